// Package bruteforce owns the defence against credential guessing: failed
// authentications (401) are counted per client IP and per presented
// credential (API key id or token subject, reqinfo.CredentialHint), and a
// source past its threshold is blocked with 429 and Retry-After for a time
// that grows with each repeat offence. Counters and blocks live in the
// rate-limit Stores, so a Redis store shares them across a cluster.
package bruteforce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// TypeBlocked is the problem type of a request from a blocked source.
const TypeBlocked = "blocked"

// Guard is one runtime's brute-force defence.
type Guard struct {
	stores  *ratelimit.Stores
	log     *slog.Logger
	ipThr   int64
	credThr int64
	penalty ratelimit.Penalty
}

// New returns the Guard for cfg (defaults applied), or nil when the
// defence is disabled.
func New(cfg config.BruteForce, stores *ratelimit.Stores, log *slog.Logger) (*Guard, error) {
	if cfg.Enabled != nil && !*cfg.Enabled {
		return nil, nil
	}
	if stores == nil {
		return nil, errors.New("brute-force defence needs the rate-limit stores")
	}
	g := &Guard{stores: stores, log: log, penalty: ratelimit.Penalty{Window: cfg.Window.D(), Forget: cfg.ForgetAfter.D()}}
	if cfg.IPThreshold != nil {
		g.ipThr = int64(*cfg.IPThreshold)
	}
	if cfg.CredentialThreshold != nil {
		g.credThr = int64(*cfg.CredentialThreshold)
	}
	var errs config.Errors
	for i, d := range cfg.Block {
		if d.D() < time.Second {
			errs.Add(config.Index("block", i), "must be at least 1s")
		}
		g.penalty.Ladder = append(g.penalty.Ladder, d.D())
	}
	if len(g.penalty.Ladder) == 0 {
		errs.Add("block", "needs at least one step")
	}
	if g.penalty.Window < time.Second {
		errs.Add("window", "must be at least 1s")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	return g, nil
}

func ipKey(info *reqinfo.Info) string {
	return "bf:ip:" + ratelimit.Digest(ratelimit.IPKey(info.ClientIP))
}

func credKey(id string) string { return "bf:cred:" + ratelimit.Digest(id) }

// Outer runs before the body limit and authentication: it rejects a
// blocked client IP, and counts a 401 from the rest of the chain against
// the client IP and the presented credential. While a credential is
// blocked, its failures answer 429 just like its successes do
// (AfterAuth), so the status never tells a guesser that a secret was right.
func (g *Guard) Outer() pipeline.Middleware {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			info := reqinfo.From(r.Context())
			var ik string // built at most once: an IP string and a digest
			if g.ipThr > 0 && g.stores.MayBlock() {
				ik = ipKey(info)
				if d := g.stores.Blocked(r.Context(), []string{ik}); d > 0 {
					g.stores.Metrics().BlockRejected("ip")
					return Blocked(d, "client ip")
				}
			}
			err := next.ServeHTTP(w, r)
			if err == nil || statusOf(err) != http.StatusUnauthorized {
				return err
			}
			if ik == "" {
				ik = ipKey(info)
			}
			if d := g.failed(r.Context(), info, ik); d > 0 {
				g.stores.Metrics().BlockRejected("credential")
				return Blocked(d, "credential")
			}
			return err
		})
	}
}

// failed records a failure and returns how long the presented credential
// is now blocked (0 when it is not).
func (g *Guard) failed(ctx context.Context, info *reqinfo.Info, ipKey string) time.Duration {
	fs := []ratelimit.Failure{{Key: ipKey, Threshold: g.ipThr}}
	hint := info.CredentialHint
	if hint != "" {
		fs = append(fs, ratelimit.Failure{Key: credKey(hint), Threshold: g.credThr})
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
		g.log.Warn("brute-force block imposed", "kind", kind, "client_ip", info.ClientIP.String(),
			"credential_hint", hint, "block", d.String(), "request_id", info.ID)
	}
	if hint == "" || g.credThr <= 0 {
		return 0
	}
	return g.stores.Blocked(ctx, []string{credKey(hint)})
}

// AfterAuth runs right after authentication: a blocked credential is
// rejected even though it verified.
func (g *Guard) AfterAuth() pipeline.Middleware {
	if g.credThr <= 0 {
		return nil
	}
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if p := reqinfo.From(r.Context()).Principal; p != nil && g.stores.MayBlock() {
				var keys [2]string
				ks := keys[:0]
				if p.CredentialID != "" {
					ks = append(ks, credKey(p.CredentialID))
				}
				if p.Subject != "" && p.Subject != p.CredentialID {
					ks = append(ks, credKey(p.Subject))
				}
				if len(ks) > 0 {
					if d := g.stores.Blocked(r.Context(), ks); d > 0 {
						g.stores.Metrics().BlockRejected("credential")
						return Blocked(d, "credential")
					}
				}
			}
			return next.ServeHTTP(w, r)
		})
	}
}

func statusOf(err error) int {
	var sc problem.StatusCoder
	if errors.As(err, &sc) {
		return sc.StatusCode()
	}
	return 0
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
