package ratelimit

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// breaker keeps requests away from a Redis that just failed: after a
// failure every check falls back at once, without waiting on the network,
// until retry has passed; then one request probes Redis, and its success
// brings every request back. Recovery needs no operator.
type breaker struct {
	clock    Clock
	retry    time.Duration
	log      *slog.Logger
	onChange func(up bool)

	down    atomic.Bool
	mu      sync.Mutex
	until   time.Time
	probing bool
}

// enter reports whether a call may go to Redis now, and whether that call
// is the probe.
func (b *breaker) enter() (ok, probe bool) {
	if !b.down.Load() {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down.Load() {
		return true, false
	}
	if b.probing || b.clock().Before(b.until) {
		return false, false
	}
	b.probing = true
	return true, true
}

// done records the outcome of a call that enter let through.
func (b *breaker) done(probe bool, err error) {
	if err == nil {
		if !b.down.Load() {
			return
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		b.probing = false
		if b.down.Swap(false) {
			b.log.Info("rate-limit store reachable again; limits are shared across instances again")
			b.onChange(true)
		}
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	b.until = b.clock().Add(b.retry)
	if !b.down.Swap(true) {
		b.log.Warn("rate-limit store unreachable; policies fall back as their on_store_error says",
			"error", err.Error(), "retry_in", b.retry.String())
		b.onChange(false)
	}
}
