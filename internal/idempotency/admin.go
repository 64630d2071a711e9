package idempotency

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/sharedstate"
)

// Admin lets operators see a key's state and resolve a key left in doubt
// (or held by an instance that died mid-request): after checking the
// upstream's books, either the operation did not happen and the key is
// released (the client's next retry is forwarded), or it did and the key
// is completed with the answer retries get.
type Admin struct {
	store sharedstate.Store
	now   func() time.Time
}

// NewAdmin returns the operator's view of store (nil now: time.Now).
func NewAdmin(store sharedstate.Store, now func() time.Time) *Admin {
	if now == nil {
		now = time.Now
	}
	return &Admin{store: store, now: now}
}

// KeyRef names a key as the gateway scopes it.
type KeyRef struct {
	// Consumer is the caller's consumer id (as in the access log).
	Consumer string `json:"consumer"`
	// Issuer is the token issuer of token callers ("" for API keys and
	// client certificates).
	Issuer string `json:"issuer"`
	// Key is the Idempotency-Key value, unquoted.
	Key string `json:"key"`
}

// KeyState is a key as an operator sees it.
type KeyState struct {
	// State is in-flight, done or in-doubt.
	State string `json:"state"`
	// Reason is why a key is in doubt.
	Reason string `json:"reason,omitempty"`
	// Status is the stored answer's status (done).
	Status int `json:"status,omitempty"`
	// LeaseExpired: an in-flight key whose instance should have settled it
	// by now; it is answered as in doubt.
	LeaseExpired bool `json:"lease_expired,omitempty"`
	// ExpiresInSeconds is how long the entry has left.
	ExpiresInSeconds int64 `json:"expires_in_seconds"`
}

// Outcomes of a resolution.
const (
	// OutcomeNotProcessed releases the key: the upstream did not act on
	// the request, the next retry is forwarded.
	OutcomeNotProcessed = "not_processed"
	// OutcomeProcessed completes the key with Response: retries get it.
	OutcomeProcessed = "processed"
)

// Resolution is an operator's verdict on a key.
type Resolution struct {
	Outcome  string            `json:"outcome"`
	Response *ResolvedResponse `json:"response"`
}

// ResolvedResponse is the answer an operator records for a processed key.
type ResolvedResponse struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
}

// Errors of Inspect and Resolve.
var (
	// ErrNoKey: no live entry under the key.
	ErrNoKey = errors.New("idempotency: no such key")
	// ErrNotResolvable: the key is completed, or still in flight within
	// its lease.
	ErrNotResolvable = errors.New("idempotency: the key is not in doubt")
	// ErrInvalidResolution: the resolution is malformed (Error says how).
	ErrInvalidResolution = errors.New("idempotency: invalid resolution")
	// ErrStore: the store could not be read or written.
	ErrStore = errors.New("idempotency: store unavailable")
)

// maxResolvedBody bounds an operator's recorded answer.
const maxResolvedBody = 64 << 10

func (a *Admin) key(ref KeyRef) sharedstate.Key { return StoreKey(ref.Issuer, ref.Consumer, ref.Key) }

// Inspect returns the key's state.
func (a *Admin) Inspect(ctx context.Context, ref KeyRef) (KeyState, error) {
	e, ok, err := a.store.Get(ctx, a.key(ref))
	if err != nil {
		return KeyState{}, fmt.Errorf("%w: %w", ErrStore, err)
	}
	if !ok {
		return KeyState{}, ErrNoKey
	}
	return a.view(e), nil
}

func (a *Admin) view(e sharedstate.Entry) KeyState {
	ks := KeyState{State: e.State.String(), ExpiresInSeconds: int64(e.TTL / time.Second)}
	switch e.State {
	case sharedstate.InDoubt:
		ks.Reason = decodeDoubt(e.Value)
	case sharedstate.InFlight:
		if m, err := decodeMeta(e.Meta); err != nil || a.now().After(m.leaseUntil) {
			ks.LeaseExpired = true
		}
	case sharedstate.Done:
		if s, err := decodeResponse(e.Value); err == nil {
			ks.Status = s.status
		}
	}
	return ks
}

// Resolve applies an operator's verdict to a key in doubt (or in flight
// past its lease) and returns its new state (State "released" when it
// was released).
func (a *Admin) Resolve(ctx context.Context, ref KeyRef, res Resolution) (KeyState, error) {
	var value []byte
	switch res.Outcome {
	case OutcomeNotProcessed:
		if res.Response != nil {
			return KeyState{}, fmt.Errorf("%w: response is only for outcome processed", ErrInvalidResolution)
		}
	case OutcomeProcessed:
		r := res.Response
		if r == nil {
			return KeyState{}, fmt.Errorf("%w: outcome processed needs the response retries get", ErrInvalidResolution)
		}
		if r.Status < 200 || r.Status > 499 {
			return KeyState{}, fmt.Errorf("%w: response.status must be between 200 and 499", ErrInvalidResolution)
		}
		if _, _, err := mime.ParseMediaType(r.ContentType); r.ContentType != "" && err != nil {
			return KeyState{}, fmt.Errorf("%w: response.content_type is not a media type", ErrInvalidResolution)
		}
		if len(r.Body) > maxResolvedBody {
			return KeyState{}, fmt.Errorf("%w: response.body is larger than 64KiB", ErrInvalidResolution)
		}
		h := http.Header{}
		if r.ContentType != "" {
			h.Set("Content-Type", r.ContentType)
		}
		value = encodeResponse(stored{status: r.Status, header: h, body: []byte(r.Body)})
	default:
		return KeyState{}, fmt.Errorf("%w: outcome must be %s or %s", ErrInvalidResolution, OutcomeNotProcessed, OutcomeProcessed)
	}
	k := a.key(ref)
	e, ok, err := a.store.Get(ctx, k)
	if err != nil {
		return KeyState{}, fmt.Errorf("%w: %w", ErrStore, err)
	}
	if !ok {
		return KeyState{}, ErrNoKey
	}
	m, err := decodeMeta(e.Meta)
	if err != nil {
		return KeyState{}, fmt.Errorf("%w: %w", ErrStore, err)
	}
	switch {
	case e.State == sharedstate.Done:
		return KeyState{}, fmt.Errorf("%w: it is completed", ErrNotResolvable)
	case e.State == sharedstate.InFlight && !a.now().After(m.leaseUntil):
		return KeyState{}, fmt.Errorf("%w: it is in flight within its lease", ErrNotResolvable)
	}
	if res.Outcome == OutcomeNotProcessed {
		if err := a.store.Release(ctx, k, m.owner); err != nil {
			return KeyState{}, a.ownedErr(err)
		}
		return KeyState{State: "released"}, nil
	}
	ttl := max(e.TTL, time.Second)
	if err := a.store.Complete(ctx, k, m.owner, sharedstate.Done, value, ttl); err != nil {
		return KeyState{}, a.ownedErr(err)
	}
	return KeyState{State: sharedstate.Done.String(), Status: res.Response.Status, ExpiresInSeconds: int64(ttl / time.Second)}, nil
}

func (a *Admin) ownedErr(err error) error {
	switch {
	case errors.Is(err, sharedstate.ErrNotFound):
		return ErrNoKey
	case errors.Is(err, sharedstate.ErrNotOwner):
		// Released and reserved again meanwhile: a new request holds it.
		return fmt.Errorf("%w: a new request holds it", ErrNotResolvable)
	}
	return fmt.Errorf("%w: %w", ErrStore, err)
}
