package sharedstate

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testenv"
)

// setHarness is one Set as two instances see it, and how to let a member
// written with TTL short expire.
type setHarness struct {
	a, b   Set
	short  time.Duration
	expire func(t *testing.T)
}

var testSetLimits = SetLimits{MaxMembers: 3, MaxValueBytes: 64}

func TestSetConformance(t *testing.T) {
	harnesses := []struct {
		name string
		make func(*testing.T) setHarness
	}{
		{"memory", func(t *testing.T) setHarness {
			clock := testenv.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
			m, err := NewMemorySet(testSetLimits, clock.Now)
			if err != nil {
				t.Fatal(err)
			}
			return setHarness{a: m, b: m, short: time.Minute, expire: func(*testing.T) { clock.Advance(time.Minute) }}
		}},
		{"redis", func(t *testing.T) setHarness { return redisSetHarness(t, testenv.RedisOptions{}) }},
		{"redis cluster", func(t *testing.T) setHarness { return redisSetHarness(t, testenv.RedisOptions{Cluster: true}) }},
	}
	for _, h := range harnesses {
		t.Run(h.name, func(t *testing.T) {
			for _, c := range []struct {
				name string
				run  func(*testing.T, setHarness)
			}{
				{"put is seen by every instance, replaced, removed", testSetPutRemove},
				{"full refuses new members, not replacements", testSetFull},
				{"members expire on their own ttl", testSetExpiry},
				{"arguments are checked", testSetArguments},
			} {
				t.Run(c.name, func(t *testing.T) { c.run(t, h.make(t)) })
			}
		})
	}
}

func redisSetHarness(t *testing.T, opts testenv.RedisOptions) setHarness {
	r := testenv.StartRedis(t, opts)
	mk := func() Set {
		s, err := NewRedisSet(newClient(t, r.Addr(), opts.Cluster), testPrefix, testSetLimits)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := mk(), mk()
	return setHarness{a: a, b: b, short: 60 * time.Millisecond, expire: func(t *testing.T) {
		time.Sleep(80 * time.Millisecond) // redis-server keeps its own time
	}}
}

func ids(t *testing.T, s Set, set string) []string {
	t.Helper()
	ms, err := s.Members(t.Context(), set)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.ID+"="+string(m.Value))
	}
	slices.Sort(out)
	return out
}

func testSetPutRemove(t *testing.T, h setHarness) {
	ctx := t.Context()
	if err := h.a.Put(ctx, "blocks", "m1", []byte("v1\x00:x"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := h.a.Put(ctx, "blocks", "m2", nil, time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, h.b, "blocks"); !slices.Equal(got, []string{"m1=v1\x00:x", "m2="}) {
		t.Fatalf("members = %q", got)
	}
	ms, _ := h.b.Members(ctx, "blocks")
	for _, m := range ms {
		if m.TTL <= 0 || m.TTL > time.Hour {
			t.Fatalf("ttl %v", m.TTL)
		}
	}
	if err := h.b.Put(ctx, "blocks", "m1", []byte("v2"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, h.a, "blocks"); !slices.Equal(got, []string{"m1=v2", "m2="}) {
		t.Fatalf("after replace: %q", got)
	}
	if ok, err := h.b.Remove(ctx, "blocks", "m1"); !ok || err != nil {
		t.Fatalf("remove: %v %v", ok, err)
	}
	if ok, err := h.a.Remove(ctx, "blocks", "m1"); ok || err != nil {
		t.Fatalf("second remove: %v %v", ok, err)
	}
	if got := ids(t, h.a, "other"); len(got) != 0 {
		t.Fatalf("another set: %q", got)
	}
}

func testSetFull(t *testing.T, h setHarness) {
	ctx := t.Context()
	for _, m := range []string{"a", "b", "c"} {
		if err := h.a.Put(ctx, "s", m, nil, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.b.Put(ctx, "s", "d", nil, time.Hour); !errors.Is(err, ErrFull) {
		t.Fatalf("fourth member: %v", err)
	}
	if err := h.b.Put(ctx, "s", "a", []byte("x"), time.Hour); err != nil {
		t.Fatalf("replacing when full: %v", err)
	}
}

func testSetExpiry(t *testing.T, h setHarness) {
	ctx := t.Context()
	_ = h.a.Put(ctx, "s", "short", nil, h.short)
	_ = h.a.Put(ctx, "s", "b", nil, time.Hour)
	_ = h.a.Put(ctx, "s", "c", nil, time.Hour)
	h.expire(t)
	if got := ids(t, h.b, "s"); !slices.Equal(got, []string{"b=", "c="}) {
		t.Fatalf("after expiry: %q", got)
	}
	// The expired member's room is free again.
	if err := h.b.Put(ctx, "s", "d", nil, time.Hour); err != nil {
		t.Fatalf("put after expiry: %v", err)
	}
	if ok, _ := h.a.Remove(ctx, "s", "short"); ok {
		t.Fatal("an expired member was removed as live")
	}
}

func testSetArguments(t *testing.T, h setHarness) {
	ctx := t.Context()
	for name, err := range map[string]error{
		"brace in set":   h.a.Put(ctx, "a{b", "m", nil, time.Hour),
		"empty member":   h.a.Put(ctx, "s", "", nil, time.Hour),
		"zero ttl":       h.a.Put(ctx, "s", "m", nil, 0),
		"value too long": h.a.Put(ctx, "s", "m", make([]byte, 65), time.Hour),
	} {
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got := ids(t, h.a, "s"); len(got) != 0 {
		t.Fatalf("something was written: %q", got)
	}
}
