package sharedstate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testenv"
)

func newTestMemory(t *testing.T, max int) (*Memory, *testenv.Clock) {
	t.Helper()
	clock := testenv.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	m, err := NewMemory(max, MemoryOptions{Limits: testLimits, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return m, clock
}

// A full store refuses new keys and never evicts a live entry: an entry
// evicted early is a replay let through.
func TestMemoryFullFailsClosed(t *testing.T) {
	m, clock := newTestMemory(t, 3)
	ctx := t.Context()
	k := func(id string) Key { return Key{Scope: "s", ID: id} }
	mustReserve(t, m, k("a"), "o1", time.Minute)
	mustReserve(t, m, k("b"), "o1", 2*time.Minute)
	if first, err := m.Seen(ctx, k("c"), 3*time.Minute); err != nil || !first {
		t.Fatalf("Seen c = %v, %v", first, err)
	}

	refused := []struct {
		name string
		do   func() error
	}{
		{"reserve", func() error { _, _, err := m.Reserve(ctx, k("d"), "o1", nil, time.Minute); return err }},
		{"seen", func() error { _, err := m.Seen(ctx, k("d"), time.Minute); return err }},
	}
	for _, r := range refused {
		if err := r.do(); !errors.Is(err, ErrFull) {
			t.Fatalf("%s into a full store = %v, want ErrFull", r.name, err)
		}
	}
	mustAbsent(t, m, k("d"))
	for _, id := range []string{"a", "b", "c"} {
		mustGet(t, m, k(id)) // nothing was evicted
	}
	// Keys already held still answer: no space is needed to say "taken".
	if cur, ok, err := m.Reserve(ctx, k("a"), "o2", nil, time.Minute); err != nil || ok || cur.State != InFlight {
		t.Fatalf("Reserve of a held key in a full store = %+v, %v, %v", cur, ok, err)
	}
	if first, err := m.Seen(ctx, k("c"), time.Minute); err != nil || first {
		t.Fatalf("Seen of a held key in a full store = %v, %v", first, err)
	}
	// Operations on held entries need no space either.
	if err := m.Complete(ctx, k("b"), "o1", Done, []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}

	// Space comes back by release or by expiry, never by eviction.
	if err := m.Release(ctx, k("a"), "o1"); err != nil {
		t.Fatal(err)
	}
	mustReserve(t, m, k("d"), "o1", time.Hour)
	clock.Advance(time.Minute) // b (completed with 1m) expires; c, d live
	mustReserve(t, m, k("e"), "o1", time.Hour)
	if _, _, err := m.Reserve(ctx, k("f"), "o1", nil, time.Minute); !errors.Is(err, ErrFull) {
		t.Fatalf("Reserve f = %v, want ErrFull", err)
	}
	for _, id := range []string{"c", "d", "e"} {
		mustGet(t, m, k(id))
	}
}

// Expiry is exact to the clock: alive 1ns before the TTL, gone at it.
func TestMemoryExpiryBoundary(t *testing.T) {
	cases := []struct {
		name     string
		ttl      time.Duration
		lifetime time.Duration
	}{
		{"whole milliseconds", time.Minute, time.Minute},
		{"rounded up to the millisecond, as Redis", time.Nanosecond, time.Millisecond},
		{"1.5ms rounded up", 1500 * time.Microsecond, 2 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, clock := newTestMemory(t, 10)
			k := Key{Scope: "s", ID: "k"}
			mustReserve(t, m, k, "o1", c.ttl)
			clock.Advance(c.lifetime - time.Nanosecond)
			if e := mustGet(t, m, k); e.TTL != time.Nanosecond {
				t.Fatalf("TTL 1ns before expiry = %v", e.TTL)
			}
			clock.Advance(time.Nanosecond)
			mustAbsent(t, m, k)
			if m.Len() != 0 {
				t.Fatalf("Len = %d after the lookup of an expired entry", m.Len())
			}
		})
	}
}

// Expired entries are reclaimed by inserts, a bounded batch at a time, and
// always enough that an expired entry never causes ErrFull.
func TestMemoryReclaimsOnInsert(t *testing.T) {
	const max = 200
	m, clock := newTestMemory(t, max)
	ctx := t.Context()
	fill := func(round string, ttl time.Duration) {
		t.Helper()
		for i := range max {
			if first, err := m.Seen(ctx, Key{Scope: "s", ID: fmt.Sprint(round, i)}, ttl); err != nil || !first {
				t.Fatalf("%s %d: %v %v", round, i, first, err)
			}
		}
	}
	fill("old", time.Minute)
	clock.Advance(time.Minute)
	if _, err := m.Seen(ctx, Key{Scope: "s", ID: "one"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, want := m.Len(), max-sweepBatch+1; got != want {
		t.Fatalf("Len after one insert = %d, want %d (one batch reclaimed)", got, want)
	}
	// The store is full of expired and live entries: every insert must
	// find room while any entry has expired.
	clock.Advance(time.Hour)
	fill("new", time.Minute)
	if m.Len() != max {
		t.Fatalf("Len = %d, want %d", m.Len(), max)
	}
}

func TestNewMemoryRefuses(t *testing.T) {
	cases := []struct {
		name string
		max  int
		opts MemoryOptions
		want string
	}{
		{"no entries", 0, MemoryOptions{}, "maxEntries"},
		{"negative entries", -1, MemoryOptions{}, "maxEntries"},
		{"negative meta limit", 1, MemoryOptions{Limits: Limits{MaxMetaBytes: -1}}, "negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewMemory(c.max, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// Zero limits are a replay cache: markers only, no blobs.
func TestMemoryZeroLimits(t *testing.T) {
	m, err := NewMemory(1, MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k := Key{Scope: "s", ID: "k"}
	if _, _, err := m.Reserve(t.Context(), k, "o1", []byte("x"), time.Minute); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Reserve with meta = %v", err)
	}
	if first, err := m.Seen(t.Context(), k, time.Minute); err != nil || !first {
		t.Fatalf("Seen = %v, %v", first, err)
	}
}
