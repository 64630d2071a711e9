package admin

import (
	"context"
	"net/netip"
	"time"

	"github.com/portcullis/portcullis/internal/ratelimit"
)

// authGuard blocks a client IP's admin-token attempts after repeated
// failures, so a leaked token id or a guessing script on the admin network
// gets 429 instead of unlimited tries. Client certificates are checked
// before it and are never blocked. State is in memory: one admin listener
// per process.
type authGuard struct {
	store     *ratelimit.MemoryStore
	threshold int64
	penalty   ratelimit.Penalty
}

const (
	authFailureWindow = 10 * time.Minute
	authGuardMaxKeys  = 100_000
)

var authFailureLadder = []time.Duration{time.Minute, 5 * time.Minute, time.Hour}

// newAuthGuard returns nil (no blocking) for a threshold of 0.
func newAuthGuard(threshold int, clock ratelimit.Clock) *authGuard {
	if threshold <= 0 {
		return nil
	}
	return &authGuard{
		store:     ratelimit.NewMemoryStore(authGuardMaxKeys, clock),
		threshold: int64(threshold),
		penalty:   ratelimit.Penalty{Window: authFailureWindow, Ladder: authFailureLadder, Forget: 24 * time.Hour},
	}
}

func authGuardKey(ip netip.Addr) string { return "admin:ip:" + ratelimit.Digest(ratelimit.IPKey(ip)) }

// blocked returns how long ip's token attempts stay blocked (0: not).
func (g *authGuard) blocked(ctx context.Context, ip netip.Addr) time.Duration {
	if g == nil || !g.store.MayBlock() {
		return 0
	}
	d, _ := g.store.Blocked(ctx, []string{authGuardKey(ip)})
	return d
}

// failed counts a failed token attempt from ip and returns the block it
// earned (0: none yet).
func (g *authGuard) failed(ctx context.Context, ip netip.Addr) time.Duration {
	if g == nil {
		return 0
	}
	ds, _ := g.store.Fail(ctx, []ratelimit.Failure{{Key: authGuardKey(ip), Threshold: g.threshold}}, g.penalty)
	return ds[0]
}
