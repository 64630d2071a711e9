package ratelimit

import (
	"context"
	"sync/atomic"
	"time"
)

// blockHorizon lets an instance sharing Redis skip the per-request block
// lookup while no brute-force block is in force anywhere. Every block the
// penalty script imposes also extends one horizon key in Redis (it lives
// as long as the longest block); an instance reads that key's remaining
// life at most once per interval, in the background, and also moves its
// own horizon forward whenever it records a failed authentication.
//
// It errs towards looking: before the first read, and whenever the last
// successful read is older than three intervals (Redis failing), MayBlock
// says yes, and the caller asks Redis (or the local fallback) per request.
type blockHorizon struct {
	interval time.Duration
	clock    Clock
	read     func(ctx context.Context) (time.Duration, error)
	timeout  time.Duration

	until   atomic.Int64 // unix µs before which a block may be in force
	synced  atomic.Int64 // unix µs of the last successful read; 0: never
	syncing atomic.Bool
}

// mayBlock reports whether a block may be in force now, starting a
// background read when the last one is older than the interval.
func (h *blockHorizon) mayBlock() bool {
	now := us(h.clock())
	synced := h.synced.Load()
	if age := now - synced; synced == 0 || age >= durUs(h.interval) {
		h.refresh()
		if synced == 0 || age >= 3*durUs(h.interval) {
			return true
		}
	}
	return now < h.until.Load()
}

// refresh reads the horizon in a goroutine unless a read is running.
func (h *blockHorizon) refresh() {
	if !h.syncing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer h.syncing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
		defer cancel()
		left, err := h.read(ctx)
		if err != nil {
			return
		}
		// Measured after the answer, so the local horizon never ends
		// before the one in Redis. Blocks are never lifted early, so the
		// horizon only moves forward (a read that raced with imposed must
		// not pull it back).
		now := us(h.clock())
		h.extend(now + durUs(left))
		h.synced.Store(now)
	}()
}

// imposed moves the horizon to at least d from now. The penalty script
// returns the horizon with every failure it records, so an instance
// enforces its own blocks at once, and learns of blocks imposed elsewhere
// at its next failed authentication or read, whichever comes first.
func (h *blockHorizon) imposed(d time.Duration) { h.extend(us(h.clock()) + durUs(d)) }

func (h *blockHorizon) extend(end int64) {
	for {
		cur := h.until.Load()
		if cur >= end || h.until.CompareAndSwap(cur, end) {
			return
		}
	}
}
