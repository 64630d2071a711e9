package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testenv"
)

// waitMayBlock polls until s.MayBlock() is want: the horizon is read in
// the background, so the answer changes shortly after the call that
// started the read.
func waitMayBlock(t *testing.T, s *Stores, want bool) {
	t.Helper()
	for range 500 {
		if s.MayBlock() == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("MayBlock stayed %v for 5s", !want)
}

// Two instances on one Redis: while no block is in force they skip the
// per-request lookup; a block imposed on one is enforced there at once and
// on the other after its next horizon read (block_sync, default 1s); a
// Redis that stops answering puts them back to looking every time.
func TestRedisBlockHorizon(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	clock := testenv.NewClock(base)
	a := redisStores(t, r.Addr(), "", "horizon:", clock, nil)
	b := redisStores(t, r.Addr(), "", "horizon:", clock, nil)
	ctx := context.Background()

	if !b.MayBlock() {
		t.Fatal("MayBlock is false before the horizon was ever read")
	}
	waitMayBlock(t, b, false)
	waitMayBlock(t, a, false)

	p := Penalty{Window: time.Minute, Ladder: []time.Duration{time.Minute}, Forget: time.Hour}
	ds := a.Fail(ctx, []Failure{{Key: "ip", Threshold: 1}}, p)
	if ds[0] != time.Minute {
		t.Fatalf("block imposed: %v", ds[0])
	}
	if !a.MayBlock() {
		t.Fatal("the imposing instance does not see its own block at once")
	}
	if b.MayBlock() {
		t.Fatal("the other instance saw the block before its next read (the test clock did not move)")
	}
	clock.Advance(time.Second)
	waitMayBlock(t, b, true)
	if d := b.Blocked(ctx, []string{"ip"}); d <= 55*time.Second || d > time.Minute {
		t.Fatalf("Blocked on the other instance: %v", d)
	}
	// An instance that records a failure learns the horizon from that
	// same call, before its next read.
	d := redisStores(t, r.Addr(), "", "horizon:", clock, nil)
	waitMayBlock(t, d, true) // the horizon read finds the block
	e := redisStores(t, r.Addr(), "", "horizon:", clock, nil)
	e.redis.horizon.synced.Store(us(clock.Now())) // as if it had read before the block
	if e.MayBlock() {
		t.Fatal("setup: e should believe nothing is blocked")
	}
	if ds := e.Fail(ctx, []Failure{{Key: "other-ip", Threshold: 5}}, p); ds[0] != 0 {
		t.Fatalf("one failure of five blocked: %v", ds[0])
	}
	if !e.MayBlock() {
		t.Fatal("a failure recorded through Redis did not bring the horizon along")
	}

	// A third instance that had read "no block" loses Redis: after three
	// intervals without a successful read it looks again on every request.
	c := redisStores(t, r.Addr(), "", "horizon-other:", clock, nil)
	waitMayBlock(t, c, false)
	r.Stop()
	clock.Advance(2 * time.Second)
	if c.MayBlock() {
		t.Fatal("MayBlock true within three intervals of the last read")
	}
	clock.Advance(time.Second)
	if !c.MayBlock() {
		t.Fatal("MayBlock still false three intervals after the last successful read")
	}
}
