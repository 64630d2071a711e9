// Package bruteforce owns the defence against credential guessing: failed
// authentications (401) are counted per client IP and per (client IP,
// presented credential) pair (API key id or token hash,
// reqinfo.CredentialHint), and a source past its threshold is blocked with
// 429 and Retry-After for a time that grows with each repeat offence. A
// credential is never blocked on its own: key ids are not secret, so
// counting failures per credential would let anyone lock its owner out;
// guesses spread over many addresses are the security monitor's to detect
// (internal/secmon, route_failures). Counters and blocks live in the
// rate-limit Stores, so a Redis store shares them across a cluster.
package bruteforce

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/secevent"
)

// TypeBlocked is the problem type of a request from a blocked source.
const TypeBlocked = "blocked"

// Guard is one runtime's brute-force defence: one stage in the Admit phase
// (a blocked client IP gets 429 before anything else is done) that also
// observes every authentication outcome of its routes (pipeline.
// AuthObserver): failures are counted against the client IP and the
// (client IP, presented credential) pair, and a blocked pair is refused
// whether the credential verified or not, so the status never tells a
// guesser that a secret was right.
type Guard struct {
	stores  *ratelimit.Stores
	log     *slog.Logger
	ipThr   int64
	credThr int64
	penalty ratelimit.Penalty
}

var _ pipeline.AuthObserver = (*Guard)(nil)

// New returns the Guard for cfg (validated at load), or nil when the
// defence is disabled. stores must not be nil.
func New(cfg config.BruteForce, stores *ratelimit.Stores, log *slog.Logger) *Guard {
	if !*cfg.Enabled {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Guard{stores: stores, log: log, ipThr: int64(*cfg.IPThreshold), credThr: int64(*cfg.CredentialThreshold),
		penalty: ratelimit.Penalty{Window: cfg.Window.D(), Forget: cfg.ForgetAfter.D()}}
	for _, d := range cfg.Block {
		g.penalty.Ladder = append(g.penalty.Ladder, d.D())
	}
	return g
}

// Name implements pipeline.Stage.
func (g *Guard) Name() string { return "brute_force" }

// ReportsRefusals implements secevent.Reporter (BruteForceRejected).
func (g *Guard) ReportsRefusals() {}

// Phase implements pipeline.Stage.
func (g *Guard) Phase() pipeline.Phase { return pipeline.Admit }

func ipKey(info *reqinfo.Info) string {
	return "bf:ip:" + ratelimit.Digest(ratelimit.IPKey(info.ClientIP))
}

// pairKey counts one credential from one source (an IPv4 address or an
// IPv6 /64): the owner elsewhere is never affected by a guesser.
func pairKey(ip netip.Addr, id string) string {
	return "bf:pair:" + ratelimit.Digest(ratelimit.IPKey(ip)+"\x00"+id)
}

// Handle rejects a blocked client IP.
func (g *Guard) Handle(next pipeline.Handler) pipeline.Handler {
	if g.ipThr <= 0 {
		return next
	}
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if g.stores.MayBlock() {
			if d := g.stores.Blocked(r.Context(), []string{ipKey(reqinfo.From(r.Context()))}); d > 0 {
				return g.rejected(r.Context(), d, "ip")
			}
		}
		return next.ServeHTTP(w, r)
	})
}

// AuthFailed counts a refused authentication against the client IP and
// the (client IP, credential) pair; while the pair is blocked, its
// failures answer 429 just like its successes do.
func (g *Guard) AuthFailed(ctx context.Context) error {
	if d := g.failed(ctx, reqinfo.From(ctx)); d > 0 {
		return g.rejected(ctx, d, "credential")
	}
	return nil
}

// rejected counts and reports a request refused by a block of kind.
func (g *Guard) rejected(ctx context.Context, d time.Duration, kind string) error {
	g.stores.Metrics().BlockRejected(kind)
	secevent.Emit(ctx, secevent.Event{Type: secevent.BruteForceRejected, Status: http.StatusTooManyRequests, Reason: kind})
	if kind == "ip" {
		return Blocked(d, "client ip")
	}
	return Blocked(d, kind)
}

// failed records a failure and returns how long the presented credential
// is now blocked from this client IP (0 when it is not).
func (g *Guard) failed(ctx context.Context, info *reqinfo.Info) time.Duration {
	fs := []ratelimit.Failure{{Key: ipKey(info), Threshold: g.ipThr}}
	hint := info.CredentialHint
	if hint != "" {
		fs = append(fs, ratelimit.Failure{Key: pairKey(info.ClientIP, hint), Threshold: g.credThr})
	}
	ds := g.stores.Fail(ctx, fs, g.penalty)
	for i, d := range ds {
		if d <= 0 {
			continue
		}
		kind := "ip"
		if i == 1 {
			kind = "credential"
		}
		g.stores.Metrics().BlockImposed(kind)
		secevent.Emit(ctx, secevent.Event{Type: secevent.BruteForceBlock, Reason: kind, Until: time.Now().Add(d),
			Evidence: map[string]int64{"seconds": int64(d / time.Second)}})
		g.log.Warn("brute-force block imposed", "kind", kind, "client_ip", info.ClientIP.String(),
			"credential_hint", hint, "block", d.String(), "request_id", info.ID)
	}
	if hint == "" || g.credThr <= 0 {
		return 0
	}
	return g.stores.Blocked(ctx, []string{pairKey(info.ClientIP, hint)})
}

// Authenticated refuses a credential blocked from this client IP even
// though it verified.
func (g *Guard) Authenticated(ctx context.Context) error {
	info := reqinfo.From(ctx)
	p := info.Principal
	if g.credThr <= 0 || p == nil || !g.stores.MayBlock() {
		return nil
	}
	var keys [2]string
	ks := keys[:0]
	if p.CredentialID != "" {
		ks = append(ks, pairKey(info.ClientIP, p.CredentialID))
	}
	if p.Subject != "" && p.Subject != p.CredentialID {
		ks = append(ks, pairKey(info.ClientIP, p.Subject))
	}
	if len(ks) > 0 {
		if d := g.stores.Blocked(ctx, ks); d > 0 {
			return g.rejected(ctx, d, "credential")
		}
	}
	return nil
}

// Blocked is the 429 of a blocked source, here and on the admin API. The
// body does not say whether the IP or the credential is blocked; the log
// does.
func Blocked(d time.Duration, what string) *problem.Error {
	secs := int64((d + time.Second - 1) / time.Second)
	pe := problem.New(http.StatusTooManyRequests, TypeBlocked, "Too Many Requests",
		"Too many failed authentication attempts; try again later.")
	pe.Cause = fmt.Errorf("brute-force block on the %s", what)
	return pe.WithHeader("Retry-After", strconv.FormatInt(max(secs, 1), 10))
}
