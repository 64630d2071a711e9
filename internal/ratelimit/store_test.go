package ratelimit

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/testenv"
)

// The same scenarios run against the memory store and a real Redis (with
// the scripts' clock pinned to the test's), so both stores are held to one
// behaviour.

type storeStep struct {
	name    string
	advance time.Duration
	checks  func(now time.Time) []Check
	release []Lease
	want    []Result
}

func rate(key string, cost int64) func(time.Time) []Check {
	return func(time.Time) []Check {
		return []Check{{Kind: KindRate, Key: key, Cost: cost, Interval: time.Minute, Burst: 3}}
	}
}

func rateB(key string, cost, burst int64) func(time.Time) []Check {
	return func(time.Time) []Check {
		return []Check{{Kind: KindRate, Key: key, Cost: cost, Interval: time.Minute, Burst: burst}}
	}
}

func quotaDay(key string, cost, limit int64, skew time.Duration) func(time.Time) []Check {
	return func(now time.Time) []Check {
		ws := CalendarWindows(now.Add(skew), "day", time.UTC)
		return []Check{{Kind: KindQuota, Key: key, Cost: cost, Limit: limit, Windows: &ws}}
	}
}

func conc(key, token string) func(time.Time) []Check {
	return func(time.Time) []Check {
		return []Check{{Kind: KindConcurrency, Key: key, Cost: 1, Limit: 2, Lease: time.Hour, Token: token}}
	}
}

func both(a, b func(time.Time) []Check) func(time.Time) []Check {
	return func(now time.Time) []Check { return append(a(now), b(now)...) }
}

var storeScenarios = []struct {
	name  string
	steps []storeStep
}{
	{"rate: burst, reject, exact boundary, refill, no banking", []storeStep{
		{name: "1st", checks: rate("a", 1), want: []Result{{Allowed: true, Remaining: 2, Reset: time.Minute}}},
		{name: "2nd", checks: rate("a", 1), want: []Result{{Allowed: true, Remaining: 1, Reset: 2 * time.Minute}}},
		{name: "3rd", checks: rate("a", 1), want: []Result{{Allowed: true, Remaining: 0, Reset: 3 * time.Minute}}},
		{name: "4th rejected", checks: rate("a", 1), want: []Result{{Remaining: 0, Reset: 3 * time.Minute, RetryAfter: time.Minute}}},
		{name: "1s early", advance: 59 * time.Second, checks: rate("a", 1), want: []Result{{Reset: 2*time.Minute + time.Second, RetryAfter: time.Second}}},
		{name: "exact boundary", advance: time.Second, checks: rate("a", 1), want: []Result{{Allowed: true, Reset: 3 * time.Minute}}},
		{name: "full refill", advance: 3 * time.Minute, checks: rate("a", 3), want: []Result{{Allowed: true, Reset: 3 * time.Minute}}},
		{name: "idle hour banks no more than the burst", advance: time.Hour, checks: rate("a", 1), want: []Result{{Allowed: true, Remaining: 2, Reset: time.Minute}}},
	}},
	{"rate: weights", []storeStep{
		{name: "cost 3 of 5", checks: rateB("w", 3, 5), want: []Result{{Allowed: true, Remaining: 2, Reset: 3 * time.Minute}}},
		{name: "cost 3 with 2 left", checks: rateB("w", 3, 5), want: []Result{{Remaining: 2, Reset: 3 * time.Minute, RetryAfter: time.Minute}}},
		{name: "a minute later", advance: time.Minute, checks: rateB("w", 3, 5), want: []Result{{Allowed: true, Remaining: 0, Reset: 5 * time.Minute}}},
	}},
	{"quota: calendar day", []storeStep{
		{name: "2 of 3", checks: quotaDay("q", 2, 3, 0), want: []Result{{Allowed: true, Remaining: 1, Reset: 12 * time.Hour}}},
		{name: "2 more rejected", checks: quotaDay("q", 2, 3, 0), want: []Result{{Remaining: 1, Reset: 12 * time.Hour, RetryAfter: 12 * time.Hour}}},
		{name: "last one", checks: quotaDay("q", 1, 3, 0), want: []Result{{Allowed: true, Remaining: 0, Reset: 12 * time.Hour}}},
		{name: "1µs before midnight", advance: 12*time.Hour - time.Microsecond, checks: quotaDay("q", 1, 3, 0), want: []Result{{Reset: time.Microsecond, RetryAfter: time.Microsecond}}},
		{name: "midnight: a new day", advance: time.Microsecond, checks: quotaDay("q", 1, 3, 0), want: []Result{{Allowed: true, Remaining: 2, Reset: 24 * time.Hour}}},
		// The gateway's clock is 5 minutes slow: it still thinks it is
		// yesterday, but the store counts in the day its own clock is in.
		{name: "slow gateway clock after midnight", advance: 2 * time.Minute, checks: quotaDay("q", 1, 3, -5*time.Minute), want: []Result{{Allowed: true, Remaining: 1, Reset: 24*time.Hour - 2*time.Minute}}},
	}},
	{"concurrency: slots and release", []storeStep{
		{name: "first", checks: conc("c", "t1"), want: []Result{{Allowed: true, Remaining: 1}}},
		{name: "second", checks: conc("c", "t2"), want: []Result{{Allowed: true, Remaining: 0}}},
		{name: "third rejected", checks: conc("c", "t3"), want: []Result{{RetryAfter: time.Second}}},
		{name: "after a release", release: []Lease{{Key: "c", Token: "t1"}}, checks: conc("c", "t3"), want: []Result{{Allowed: true, Remaining: 0}}},
	}},
	{"batch: all or nothing", []storeStep{
		{name: "use the quota", checks: quotaDay("bq", 1, 1, 0), want: []Result{{Allowed: true, Remaining: 0, Reset: 12 * time.Hour}}},
		{name: "rate passes, quota fails", checks: both(rateB("br", 1, 1), quotaDay("bq", 1, 1, 0)), want: []Result{
			{Allowed: true, Remaining: 0, Reset: time.Minute},
			{Remaining: 0, Reset: 12 * time.Hour, RetryAfter: 12 * time.Hour},
		}},
		{name: "the rate was not charged", checks: rateB("br", 1, 1), want: []Result{{Allowed: true, Remaining: 0, Reset: time.Minute}}},
		{name: "concurrency slot not taken by a rejected batch", checks: both(conc("bc", "x1"), rateB("br", 1, 1)), want: []Result{
			{Allowed: true, Remaining: 1},
			{Reset: time.Minute, RetryAfter: time.Minute},
		}},
		{name: "both slots still free", checks: conc("bc", "x2"), want: []Result{{Allowed: true, Remaining: 1}}},
	}},
}

func runStoreScenarios(t *testing.T, newStore func(t *testing.T, clock *testenv.Clock, prefix string) Store) {
	for _, sc := range storeScenarios {
		t.Run(sc.name, func(t *testing.T) {
			clock := testenv.NewClock(base)
			st := newStore(t, clock, strings.ReplaceAll(sc.name, " ", "_")+":")
			ctx := context.Background()
			for _, s := range sc.steps {
				clock.Advance(s.advance)
				if len(s.release) > 0 {
					if err := st.Release(ctx, s.release); err != nil {
						t.Fatalf("%s: release: %v", s.name, err)
					}
				}
				got, err := st.Check(ctx, s.checks(clock.Now()))
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if len(got) != len(s.want) {
					t.Fatalf("%s: %d results, want %d", s.name, len(got), len(s.want))
				}
				for i := range got {
					if got[i] != s.want[i] {
						t.Fatalf("%s: result %d = %+v, want %+v", s.name, i, got[i], s.want[i])
					}
				}
			}
		})
	}
}

func TestMemoryStoreScenarios(t *testing.T) {
	runStoreScenarios(t, func(t *testing.T, clock *testenv.Clock, _ string) Store {
		return NewMemoryStore(10000, clock.Now)
	})
}

func redisStores(t *testing.T, addr, password, prefix string, clock *testenv.Clock, scriptClock Clock) *Stores {
	t.Helper()
	cfg := config.WithDefaults(config.RateLimitStore{Type: "redis", MaxKeys: 10000, Redis: &config.RedisConfig{
		Address: addr, Password: password, KeyPrefix: prefix,
		DialTimeout: config.Duration(time.Second), Timeout: config.Duration(time.Second), RetryInterval: config.Duration(time.Second),
	}})
	s, err := NewStores(cfg, Options{Clock: clock.Now, ScriptClock: scriptClock, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestRedisStoreScenarios(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{Password: "s3cret-for-tests"})
	runStoreScenarios(t, func(t *testing.T, clock *testenv.Clock, prefix string) Store {
		return redisStores(t, r.Addr(), "s3cret-for-tests", prefix, clock, clock.Now).Redis()
	})
}

func TestRedisConcurrencyLeaseExpires(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	clock := testenv.NewClock(base)
	st := redisStores(t, r.Addr(), "", "lease:", clock, clock.Now).Redis()
	ctx := context.Background()
	c := Check{Kind: KindConcurrency, Key: "k", Cost: 1, Limit: 1, Lease: time.Minute, Token: "crashed"}
	if res, err := st.Check(ctx, []Check{c}); err != nil || !res[0].Allowed {
		t.Fatalf("first: %+v %v", res, err)
	}
	c.Token = "next"
	if res, _ := st.Check(ctx, []Check{c}); res[0].Allowed {
		t.Fatal("second slot granted while the first is held")
	}
	// The holder never releases (its instance crashed): the slot frees
	// itself once the lease is over.
	clock.Advance(time.Minute + time.Microsecond)
	if res, _ := st.Check(ctx, []Check{c}); !res[0].Allowed {
		t.Fatalf("slot not freed after the lease: %+v", res)
	}
}

// The brute-force ladder: Redis expires blocks in real time, so these
// steps do not move the clock and compare block lengths with a margin.
func runPenalty(t *testing.T, st Store) {
	ctx := context.Background()
	p := Penalty{Window: 10 * time.Minute, Ladder: []time.Duration{time.Minute, 5 * time.Minute, time.Hour}, Forget: 24 * time.Hour}
	fail := func(thr int64) time.Duration {
		t.Helper()
		ds, err := st.Fail(ctx, []Failure{{Key: "src", Threshold: thr}, {Key: "off", Threshold: 0}}, p)
		if err != nil {
			t.Fatal(err)
		}
		if ds[1] != 0 {
			t.Fatalf("a source with threshold 0 was blocked: %v", ds[1])
		}
		return ds[0]
	}
	for offence, want := range []time.Duration{time.Minute, 5 * time.Minute, time.Hour, time.Hour} {
		for i := 1; i <= 3; i++ {
			got := fail(3)
			switch {
			case i < 3 && got != 0:
				t.Fatalf("offence %d, failure %d: blocked %v before the threshold", offence+1, i, got)
			case i == 3 && got != want:
				t.Fatalf("offence %d: block %v, want %v", offence+1, got, want)
			}
		}
		d, err := st.Blocked(ctx, []string{"other", "src"})
		if err != nil {
			t.Fatal(err)
		}
		if d <= want-5*time.Second || d > want {
			t.Fatalf("offence %d: Blocked = %v, want about %v", offence+1, d, want)
		}
	}
	if d, _ := st.Blocked(ctx, []string{"off", "never"}); d != 0 {
		t.Fatalf("unblocked sources report %v", d)
	}
}

func TestMemoryPenalty(t *testing.T) {
	clock := testenv.NewClock(base)
	st := NewMemoryStore(10000, clock.Now)
	runPenalty(t, st)
	// Memory time is the fake clock: the block ends, and offences are
	// forgotten after forget_after.
	clock.Advance(time.Hour)
	if d, _ := st.Blocked(context.Background(), []string{"src"}); d != 0 {
		t.Fatalf("still blocked after the block: %v", d)
	}
	clock.Advance(24 * time.Hour)
	p := Penalty{Window: time.Minute, Ladder: []time.Duration{time.Minute, time.Hour}, Forget: time.Hour}
	var ds []time.Duration
	for range 3 {
		ds, _ = st.Fail(context.Background(), []Failure{{Key: "src", Threshold: 3}}, p)
	}
	if ds[0] != time.Minute {
		t.Fatalf("after forget_after the ladder restarts at the first step; got %v", ds[0])
	}
}

func TestMemoryFailureWindow(t *testing.T) {
	clock := testenv.NewClock(base)
	st := NewMemoryStore(10000, clock.Now)
	p := Penalty{Window: time.Minute, Ladder: []time.Duration{time.Minute}, Forget: time.Hour}
	f := []Failure{{Key: "slow", Threshold: 3}}
	for range 2 {
		st.Fail(context.Background(), f, p)
	}
	clock.Advance(time.Minute) // the window is over: the count restarts
	for i := range 2 {
		if ds, _ := st.Fail(context.Background(), f, p); ds[0] != 0 {
			t.Fatalf("failure %d in a new window blocked", i+1)
		}
	}
	if ds, _ := st.Fail(context.Background(), f, p); ds[0] != time.Minute {
		t.Fatalf("third failure in the window: %v", ds[0])
	}
}

func TestRedisPenalty(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	clock := testenv.NewClock(base)
	runPenalty(t, redisStores(t, r.Addr(), "", "penalty:", clock, nil).Redis())
}
