package ratelimit

import (
	"context"
	"github.com/portcullis/portcullis/internal/testenv"
	"strconv"
	"testing"
	"time"
)

func TestMemoryStoreIsBounded(t *testing.T) {
	clock := testenv.NewClock(base)
	st := NewMemoryStore(6400, clock.Now)
	ctx := context.Background()
	// A flood of distinct keys (spoofed IPs) at one instant: none expire.
	for i := range 100_000 {
		c := Check{Kind: KindRate, Key: "flood:" + strconv.Itoa(i), Cost: 1, Interval: time.Minute, Burst: 10}
		if res, _ := st.Check(ctx, []Check{c}); !res[0].Allowed {
			t.Fatalf("key %d rejected", i)
		}
	}
	if n := st.Len(); n > 6400 {
		t.Fatalf("holds %d keys, bound is 6400", n)
	}
	if ev := st.Evictions(); ev < 100_000-6400 {
		t.Fatalf("evictions = %d, want at least %d", ev, 100_000-6400)
	}
}

func TestMemoryStoreFloodEvictsShortLivedStateFirst(t *testing.T) {
	clock := testenv.NewClock(base)
	st := NewMemoryStore(6400, clock.Now)
	ctx := context.Background()
	ws := CalendarWindows(clock.Now(), "day", time.UTC)
	victim := Check{Kind: KindQuota, Key: "victim", Cost: 1, Limit: 10, Windows: &ws}
	if _, err := st.Check(ctx, []Check{victim}); err != nil {
		t.Fatal(err)
	}
	for i := range 50_000 {
		c := Check{Kind: KindRate, Key: "flood:" + strconv.Itoa(i), Cost: 1, Interval: time.Second, Burst: 1}
		st.Check(ctx, []Check{c})
	}
	res, _ := st.Check(ctx, []Check{victim})
	if res[0].Remaining != 8 {
		t.Fatalf("the long-lived quota lost its count to the flood: remaining %d, want 8", res[0].Remaining)
	}
}

func TestMemoryStoreDropsIdleKeys(t *testing.T) {
	clock := testenv.NewClock(base)
	st := NewMemoryStore(100_000, clock.Now)
	ctx := context.Background()
	for i := range 1000 {
		st.Check(ctx, []Check{{Kind: KindRate, Key: "old:" + strconv.Itoa(i), Cost: 1, Interval: time.Second, Burst: 1}})
	}
	clock.Advance(time.Minute) // every entry above has expired
	for i := range 1000 {
		st.Check(ctx, []Check{{Kind: KindRate, Key: "new:" + strconv.Itoa(i), Cost: 1, Interval: time.Second, Burst: 1}})
	}
	// Inserts sweep a few expired entries each, without any full scan.
	if n := st.Len(); n > 1500 {
		t.Fatalf("holds %d keys: idle keys are not being dropped", n)
	}
}

func TestMemoryStoreReleaseUnknownLease(t *testing.T) {
	st := NewMemoryStore(1000, testenv.NewClock(base).Now)
	if err := st.Release(context.Background(), []Lease{{Key: "never", Token: "x"}}); err != nil {
		t.Fatal(err)
	}
	if st.Len() != 0 {
		t.Fatal("release created an entry")
	}
}
