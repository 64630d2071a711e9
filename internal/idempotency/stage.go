package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"log/slog"
	"net/http"
	"net/textproto"
	"slices"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/sharedstate"
)

// Guard is the part of idempotency one runtime shares between its routes:
// the shared store, the clock, metrics and the log.
type Guard struct {
	store   sharedstate.Store
	metrics *observe.IntegrityMetrics
	log     *slog.Logger
	now     func() time.Time
}

// GuardOptions configure NewGuard.
type GuardOptions struct {
	Metrics *observe.IntegrityMetrics
	Log     *slog.Logger
	// Now is the clock of leases (default time.Now).
	Now func() time.Time
}

// NewGuard returns the runtime's idempotency part over store.
func NewGuard(store sharedstate.Store, o GuardOptions) *Guard {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Guard{store: store, metrics: o.Metrics, log: o.Log, now: o.Now}
}

// route is one route's idempotency configuration, shared by its two
// stages.
type route struct {
	g       *Guard
	name    string
	cfg     config.Idempotency
	methods []string
	ttl     time.Duration
	// lease is how long a reservation may stay in flight before it is
	// reported as in doubt (the instance holding it died mid-request).
	lease   time.Duration
	fpHdrs  []string // canonical names
	keepHdr []string // canonical names
}

func (g *Guard) route(rc config.Route) *route {
	c := *rc.Idempotency
	r := &route{g: g, name: rc.Name, cfg: c, methods: c.Methods, ttl: c.TTL.D(), lease: rc.Timeout.D() + time.Minute}
	for _, h := range c.FingerprintHeaders {
		r.fpHdrs = append(r.fpHdrs, textproto.CanonicalMIMEHeaderKey(h))
	}
	for _, h := range c.ReplayHeaders {
		r.keepHdr = append(r.keepHdr, textproto.CanonicalMIMEHeaderKey(h))
	}
	return r
}

// Lookup returns the route's first idempotency stage (before admission),
// or nil when the route has no idempotency block.
func (g *Guard) Lookup(rc config.Route) *Lookup {
	if g == nil || rc.Idempotency == nil {
		return nil
	}
	return &Lookup{r: g.route(rc)}
}

// Enforce returns the route's second idempotency stage (last before the
// forwarder), or nil when the route has no idempotency block.
func (g *Guard) Enforce(rc config.Route) *Enforce {
	if g == nil || rc.Idempotency == nil {
		return nil
	}
	return &Enforce{r: g.route(rc)}
}

func (r *route) applies(method string) bool { return slices.Contains(r.methods, method) }

func (r *route) outcome(o string) { r.g.metrics.IdempotencyOutcome(r.name, o) }

// attempt is one request's idempotency state, from Lookup to the response.
type attempt struct {
	key sharedstate.Key
	// done is the completed entry Lookup found (a replay candidate).
	done *sharedstate.Entry
	// owner is set once Enforce reserved the key; settled once it was
	// completed or released.
	owner   string
	settled bool
}

type attemptKey struct{}

func attemptFrom(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

// storeCtx bounds a store call made after the exchange: the client may be
// gone, the record of what happened must still be written.
func storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// fingerprint digests what must be the same in a retry: method, route,
// normalised path, query, the body the upstream gets, and the configured
// headers. Every part is length-prefixed, so no two requests share one by
// moving bytes between parts.
func (r *route) fingerprint(req *http.Request, info *reqinfo.Info) Fingerprint {
	h := sha256.New()
	part := func(h hash.Hash, s string) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	part(h, req.Method)
	part(h, r.name)
	part(h, info.Path)
	part(h, req.URL.RawQuery)
	body := sha256.Sum256(info.Body)
	h.Write(body[:])
	for _, name := range r.fpHdrs {
		vv := req.Header[name]
		part(h, name)
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(vv)))
		h.Write(n[:])
		for _, v := range vv {
			part(h, v)
		}
	}
	var fp Fingerprint
	h.Sum(fp[:0])
	return fp
}

// refuseEntry is the answer to a request whose key holds a live entry that
// cannot be replayed to it (nil when it can: a completed entry with the
// same fingerprint, or fp nil when the fingerprint is not known yet).
func (r *route) refuseEntry(e sharedstate.Entry, fp *Fingerprint) error {
	switch e.State {
	case sharedstate.InFlight:
		m, err := decodeMeta(e.Meta)
		if err != nil || r.g.now().After(m.leaseUntil) {
			r.outcome("in_doubt")
			return inDoubt(ReasonUnknown)
		}
		r.outcome("in_flight")
		return inFlight()
	case sharedstate.InDoubt:
		r.outcome("in_doubt")
		return inDoubt(decodeDoubt(e.Value))
	case sharedstate.Done:
		if fp == nil {
			return nil
		}
		m, err := decodeMeta(e.Meta)
		if err != nil {
			return problem.Internal(err)
		}
		if m.fp != *fp {
			r.outcome("mismatch")
			return mismatch()
		}
		return nil
	}
	return problem.Internal(errors.New("idempotency: entry in unknown state " + e.State.String()))
}

// storeError is the answer when the store cannot be used: fail closed.
func (r *route) storeError(err error) error {
	r.outcome("store_error")
	return unavailable(err)
}

var _ pipeline.Stage = (*Lookup)(nil)
