package sharedstate

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testenv"
)

// One suite holds every Store to the same contract.

// harness is one Store as two gateway instances see it.
type harness struct {
	// a and b share state: the same Memory, or two Redis stores on two
	// clients (two connection pools, as two gateway processes would have).
	a, b Store
	// short is a TTL after which expire returns.
	short time.Duration
	// expire returns once k, written with TTL short, has expired: the
	// memory harness moves its clock, the Redis one polls the server.
	expire func(t *testing.T, k Key)
}

var testLimits = Limits{MaxMetaBytes: 64, MaxValueBytes: 1024}

func memoryHarness(t *testing.T) harness {
	clock := testenv.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	m, err := NewMemory(10_000, MemoryOptions{Limits: testLimits, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return harness{a: m, b: m, short: time.Minute, expire: func(*testing.T, Key) { clock.Advance(time.Minute) }}
}

func TestConformance(t *testing.T) {
	stores := []struct {
		name string
		make func(*testing.T) harness
	}{
		{"memory", memoryHarness},
		{"redis", func(t *testing.T) harness { return redisHarness(t, testenv.RedisOptions{}) }},
		{"redis cluster", func(t *testing.T) harness { return redisHarness(t, testenv.RedisOptions{Cluster: true}) }},
		{"redis cluster of 3 masters", clusterHarness},
	}
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) {
			h := s.make(t)
			for _, c := range conformance {
				t.Run(c.name, func(t *testing.T) { c.run(t, h) })
			}
		})
	}
}

// key is unique to the running (sub)test, so cases never share entries.
func key(t *testing.T, id string) Key { return Key{Scope: "scope", ID: t.Name() + "/" + id} }

var conformance = []struct {
	name string
	run  func(*testing.T, harness)
}{
	{"reserve: the first wins, others get its entry in the same call", testReserve},
	{"complete: state and value are seen by every instance", testComplete},
	{"extend: the ttl restarts from now", testExtend},
	{"owner: every mutating operation checks the owner", testOwner},
	{"release frees the key for another owner", testRelease},
	{"seen: true once per ttl, shares keys with reservations", testSeen},
	{"expiry: an expired entry is gone for every operation", testExpiry},
	{"arguments: invalid and oversize are refused, nothing written", testArguments},
	{"concurrency: exactly one of many instances wins a key", testConcurrent},
	{"blobs: binary-safe and copied in and out", testBlobs},
}

func mustGet(t *testing.T, st Store, k Key) Entry {
	t.Helper()
	e, ok, err := st.Get(t.Context(), k)
	if err != nil || !ok {
		t.Fatalf("Get: ok=%v err=%v", ok, err)
	}
	return e
}

func mustAbsent(t *testing.T, st Store, k Key) {
	t.Helper()
	if e, ok, err := st.Get(t.Context(), k); err != nil || ok {
		t.Fatalf("Get = %+v, %v, %v; want absent", e, ok, err)
	}
}

func mustReserve(t *testing.T, st Store, k Key, owner string, ttl time.Duration) {
	t.Helper()
	if cur, ok, err := st.Reserve(t.Context(), k, owner, []byte("fp-"+owner), ttl); err != nil || !ok {
		t.Fatalf("Reserve(%s) = %+v, %v, %v; want reserved", owner, cur, ok, err)
	}
}

// checkEntry compares everything but TTL, which must be in (0, maxTTL].
func checkEntry(t *testing.T, got Entry, state State, meta, value string, maxTTL time.Duration) {
	t.Helper()
	if got.State != state || string(got.Meta) != meta || string(got.Value) != value || got.TTL <= 0 || got.TTL > maxTTL {
		t.Fatalf("entry = {%v %q %q %v}, want {%v %q %q (0,%v]}", got.State, got.Meta, got.Value, got.TTL, state, meta, value, maxTTL)
	}
}

func testReserve(t *testing.T, h harness) {
	k := key(t, "k")
	if cur, ok, err := h.a.Reserve(t.Context(), k, "o1", []byte("fp1"), time.Minute); err != nil || !ok || cur.State != 0 {
		t.Fatalf("first Reserve = %+v, %v, %v", cur, ok, err)
	}
	for i, st := range []Store{h.a, h.b} {
		cur, ok, err := st.Reserve(t.Context(), k, fmt.Sprint("other", i), []byte("fp2"), time.Hour)
		if err != nil || ok {
			t.Fatalf("second Reserve: ok=%v err=%v", ok, err)
		}
		checkEntry(t, cur, InFlight, "fp1", "", time.Minute)
	}
	checkEntry(t, mustGet(t, h.b, k), InFlight, "fp1", "", time.Minute)
}

func testComplete(t *testing.T, h harness) {
	for _, s := range []State{Done, InDoubt} {
		t.Run(s.String(), func(t *testing.T) {
			k := key(t, "k")
			mustReserve(t, h.a, k, "o1", time.Minute)
			// The owner token, not the instance, is what is checked.
			if err := h.b.Complete(t.Context(), k, "o1", s, []byte("response"), time.Hour); err != nil {
				t.Fatal(err)
			}
			e := mustGet(t, h.a, k)
			checkEntry(t, e, s, "fp-o1", "response", time.Hour)
			if e.TTL <= time.Minute {
				t.Fatalf("TTL %v: Complete did not set the new ttl", e.TTL)
			}
			cur, ok, err := h.b.Reserve(t.Context(), k, "o2", nil, time.Minute)
			if err != nil || ok {
				t.Fatalf("Reserve after Complete: ok=%v err=%v", ok, err)
			}
			checkEntry(t, cur, s, "fp-o1", "response", time.Hour)
			// The owner may change its mind (in doubt, then done) and clear the value.
			if err := h.a.Complete(t.Context(), k, "o1", Done, nil, time.Minute); err != nil {
				t.Fatal(err)
			}
			checkEntry(t, mustGet(t, h.b, k), Done, "fp-o1", "", time.Minute)
		})
	}
}

func testExtend(t *testing.T, h harness) {
	k := key(t, "k")
	mustReserve(t, h.a, k, "o1", time.Minute)
	if err := h.b.Extend(t.Context(), k, "o1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if e := mustGet(t, h.a, k); e.TTL <= time.Minute {
		t.Fatalf("TTL after Extend(1h) = %v", e.TTL)
	}
	if err := h.a.Extend(t.Context(), k, "o1", time.Minute); err != nil {
		t.Fatal(err)
	}
	checkEntry(t, mustGet(t, h.b, k), InFlight, "fp-o1", "", time.Minute)
}

func testOwner(t *testing.T, h harness) {
	ops := []struct {
		name string
		do   func(t *testing.T, st Store, k Key, owner string) error
	}{
		{"extend", func(t *testing.T, st Store, k Key, owner string) error {
			return st.Extend(t.Context(), k, owner, time.Hour)
		}},
		{"complete done", func(t *testing.T, st Store, k Key, owner string) error {
			return st.Complete(t.Context(), k, owner, Done, []byte("v"), time.Hour)
		}},
		{"complete in doubt", func(t *testing.T, st Store, k Key, owner string) error {
			return st.Complete(t.Context(), k, owner, InDoubt, []byte("v"), time.Hour)
		}},
		{"release", func(t *testing.T, st Store, k Key, owner string) error {
			return st.Release(t.Context(), k, owner)
		}},
	}
	holders := []struct {
		name  string
		setup func(t *testing.T, k Key)
		want  error
	}{
		{"absent", func(*testing.T, Key) {}, ErrNotFound},
		{"released", func(t *testing.T, k Key) {
			mustReserve(t, h.a, k, "o1", time.Minute)
			if err := h.a.Release(t.Context(), k, "o1"); err != nil {
				t.Fatal(err)
			}
		}, ErrNotFound},
		{"held by another owner", func(t *testing.T, k Key) { mustReserve(t, h.a, k, "o2", time.Minute) }, ErrNotOwner},
		{"completed by another owner", func(t *testing.T, k Key) {
			mustReserve(t, h.a, k, "o2", time.Minute)
			if err := h.a.Complete(t.Context(), k, "o2", Done, []byte("theirs"), time.Minute); err != nil {
				t.Fatal(err)
			}
		}, ErrNotOwner},
		{"a seen marker", func(t *testing.T, k Key) {
			if first, err := h.a.Seen(t.Context(), k, time.Minute); err != nil || !first {
				t.Fatalf("Seen = %v, %v", first, err)
			}
		}, ErrNotOwner},
		{"held by the owner", func(t *testing.T, k Key) { mustReserve(t, h.a, k, "o1", time.Minute) }, nil},
	}
	for _, op := range ops {
		for _, hd := range holders {
			t.Run(op.name+"/"+hd.name, func(t *testing.T) {
				k := key(t, "k")
				hd.setup(t, k)
				before, existed, err := h.a.Get(t.Context(), k)
				if err != nil {
					t.Fatal(err)
				}
				err = op.do(t, h.b, k, "o1")
				if !errors.Is(err, hd.want) || (hd.want == nil) != (err == nil) {
					t.Fatalf("err = %v, want %v", err, hd.want)
				}
				if hd.want == nil {
					return
				}
				after, exists, err := h.a.Get(t.Context(), k)
				if err != nil || exists != existed || after.State != before.State ||
					!bytes.Equal(after.Meta, before.Meta) || !bytes.Equal(after.Value, before.Value) || after.TTL > before.TTL {
					t.Fatalf("a refused operation changed the entry: %+v (%v) -> %+v (%v), %v", before, existed, after, exists, err)
				}
			})
		}
	}
}

func testRelease(t *testing.T, h harness) {
	k := key(t, "k")
	mustReserve(t, h.a, k, "o1", time.Hour)
	if err := h.b.Release(t.Context(), k, "o1"); err != nil {
		t.Fatal(err)
	}
	mustAbsent(t, h.a, k)
	mustReserve(t, h.b, k, "o2", time.Minute)
	checkEntry(t, mustGet(t, h.a, k), InFlight, "fp-o2", "", time.Minute)
}

func testSeen(t *testing.T, h harness) {
	k := key(t, "marker")
	steps := []struct {
		st   Store
		want bool
	}{{h.a, true}, {h.a, false}, {h.b, false}}
	for i, s := range steps {
		if first, err := s.st.Seen(t.Context(), k, time.Minute); err != nil || first != s.want {
			t.Fatalf("Seen #%d = %v, %v; want %v", i+1, first, err, s.want)
		}
	}
	checkEntry(t, mustGet(t, h.b, k), Done, "", "", time.Minute)
	cur, ok, err := h.b.Reserve(t.Context(), k, "o1", []byte("fp"), time.Hour)
	if err != nil || ok {
		t.Fatalf("Reserve on a marker: ok=%v err=%v", ok, err)
	}
	checkEntry(t, cur, Done, "", "", time.Minute)

	r := key(t, "reserved")
	mustReserve(t, h.a, r, "o1", time.Minute)
	if first, err := h.b.Seen(t.Context(), r, time.Hour); err != nil || first {
		t.Fatalf("Seen on a reservation = %v, %v", first, err)
	}
	checkEntry(t, mustGet(t, h.a, r), InFlight, "fp-o1", "", time.Minute)
}

func testExpiry(t *testing.T, h harness) {
	cases := []struct {
		name  string
		write func(t *testing.T, k Key)
	}{
		{"reserved", func(t *testing.T, k Key) { mustReserve(t, h.a, k, "o1", h.short) }},
		{"extended to short", func(t *testing.T, k Key) {
			mustReserve(t, h.a, k, "o1", time.Hour)
			if err := h.a.Extend(t.Context(), k, "o1", h.short); err != nil {
				t.Fatal(err)
			}
		}},
		{"completed with short", func(t *testing.T, k Key) {
			mustReserve(t, h.a, k, "o1", time.Hour)
			if err := h.a.Complete(t.Context(), k, "o1", Done, []byte("v"), h.short); err != nil {
				t.Fatal(err)
			}
		}},
		{"seen", func(t *testing.T, k Key) {
			if first, err := h.a.Seen(t.Context(), k, h.short); err != nil || !first {
				t.Fatalf("Seen = %v, %v", first, err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := key(t, "k")
			c.write(t, k)
			h.expire(t, k)
			mustAbsent(t, h.b, k)
			if err := h.b.Extend(t.Context(), k, "o1", time.Hour); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Extend after expiry = %v", err)
			}
			if err := h.b.Complete(t.Context(), k, "o1", Done, nil, time.Hour); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Complete after expiry = %v", err)
			}
			if err := h.b.Release(t.Context(), k, "o1"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Release after expiry = %v", err)
			}
			mustReserve(t, h.b, k, "o2", time.Hour)
			seen := key(t, "seen-after")
			c.write(t, seen)
			h.expire(t, seen)
			if first, err := h.b.Seen(t.Context(), seen, time.Hour); err != nil || !first {
				t.Fatalf("Seen after expiry = %v, %v", first, err)
			}
		})
	}
}

func testArguments(t *testing.T, h harness) {
	ok := Key{Scope: "scope", ID: "id"}
	meta64, value1k := bytes.Repeat([]byte("m"), 64), bytes.Repeat([]byte("v"), 1024)
	reserve := func(k Key, owner string, meta []byte, ttl time.Duration) func(*testing.T, Key) error {
		return func(t *testing.T, unique Key) error {
			if k == ok {
				k = unique
			}
			_, _, err := h.a.Reserve(t.Context(), k, owner, meta, ttl)
			if err != nil && k == unique {
				mustAbsent(t, h.b, k)
			}
			return err
		}
	}
	complete := func(s State, value []byte, ttl time.Duration) func(*testing.T, Key) error {
		return func(t *testing.T, k Key) error {
			mustReserve(t, h.a, k, "o1", time.Minute)
			err := h.a.Complete(t.Context(), k, "o1", s, value, ttl)
			if err != nil {
				checkEntry(t, mustGet(t, h.a, k), InFlight, "fp-o1", "", time.Minute)
			}
			return err
		}
	}
	// Refused calls check that nothing was written (reserve, complete).
	cases := []struct {
		name string
		do   func(t *testing.T, k Key) error
		want error
	}{
		{"empty scope", reserve(Key{ID: "id"}, "o1", nil, time.Minute), ErrInvalid},
		{"empty id", reserve(Key{Scope: "s"}, "o1", nil, time.Minute), ErrInvalid},
		{"closing brace in scope", reserve(Key{Scope: "a}", ID: "id"}, "o1", nil, time.Minute), ErrInvalid},
		{"opening brace in scope", func(t *testing.T, _ Key) error {
			_, _, err := h.a.Get(t.Context(), Key{Scope: "{a", ID: "id"})
			return err
		}, ErrInvalid},
		{"key over MaxKeyBytes", func(t *testing.T, _ Key) error {
			_, err := h.a.Seen(t.Context(), Key{Scope: "s", ID: strings.Repeat("x", MaxKeyBytes)}, time.Minute)
			return err
		}, ErrInvalid},
		{"key at MaxKeyBytes", func(t *testing.T, k Key) error {
			_, err := h.a.Seen(t.Context(), Key{Scope: "s", ID: k.ID + strings.Repeat("x", MaxKeyBytes-1-len(k.ID))}, time.Minute)
			return err
		}, nil},
		{"braces in id", reserve(Key{Scope: "s", ID: "{x}y}"}, "o1", nil, time.Minute), nil},
		{"empty owner", reserve(ok, "", nil, time.Minute), ErrInvalid},
		{"empty owner releasing a marker", func(t *testing.T, k Key) error {
			if _, err := h.a.Seen(t.Context(), k, time.Minute); err != nil {
				t.Fatal(err)
			}
			return h.a.Release(t.Context(), k, "")
		}, ErrInvalid},
		{"owner over MaxOwnerBytes", reserve(ok, strings.Repeat("o", MaxOwnerBytes+1), nil, time.Minute), ErrInvalid},
		{"zero ttl", reserve(ok, "o1", nil, 0), ErrInvalid},
		{"negative ttl", func(t *testing.T, k Key) error {
			_, err := h.a.Seen(t.Context(), k, -time.Second)
			mustAbsent(t, h.b, k)
			return err
		}, ErrInvalid},
		{"ttl over MaxTTL", func(t *testing.T, k Key) error {
			mustReserve(t, h.a, k, "o1", time.Minute)
			return h.a.Extend(t.Context(), k, "o1", MaxTTL+time.Millisecond)
		}, ErrInvalid},
		{"sub-millisecond ttl", reserve(ok, "o1", nil, time.Nanosecond), nil},
		{"meta over the limit", reserve(ok, "o1", append(meta64, 'x'), time.Minute), ErrTooLarge},
		{"meta at the limit", reserve(ok, "o1", meta64, time.Minute), nil},
		{"value over the limit", complete(Done, append(value1k, 'x'), time.Minute), ErrTooLarge},
		{"value at the limit", complete(Done, value1k, time.Minute), nil},
		{"complete to in flight", complete(InFlight, nil, time.Minute), ErrInvalid},
		{"complete to state 0", complete(0, nil, time.Minute), ErrInvalid},
		{"complete to state 9", complete(9, nil, time.Minute), ErrInvalid},
		{"complete with zero ttl", complete(Done, nil, 0), ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := key(t, "k")
			err := c.do(t, k)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func testConcurrent(t *testing.T, h harness) {
	const n = 32
	cases := []struct {
		name string
		try  func(t *testing.T, st Store, k Key, i int) (won bool, cur Entry, err error)
	}{
		{"reserve", func(t *testing.T, st Store, k Key, i int) (bool, Entry, error) {
			owner := fmt.Sprint("owner", i)
			cur, ok, err := st.Reserve(t.Context(), k, owner, []byte(owner), time.Minute)
			return ok, cur, err
		}},
		{"seen", func(t *testing.T, st Store, k Key, _ int) (bool, Entry, error) {
			first, err := st.Seen(t.Context(), k, time.Minute)
			return first, Entry{}, err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := key(t, "k")
			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				won     [n]bool
				cur     [n]Entry
				errs    [n]error
				winners []int
			)
			for i := range n {
				st := []Store{h.a, h.b}[i%2]
				wg.Go(func() {
					<-start
					won[i], cur[i], errs[i] = c.try(t, st, k, i)
				})
			}
			close(start)
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("goroutine %d: %v", i, errs[i])
				}
				if won[i] {
					winners = append(winners, i)
				}
			}
			if len(winners) != 1 {
				t.Fatalf("winners %v, want exactly one", winners)
			}
			if c.name != "reserve" {
				return
			}
			w := fmt.Sprint("owner", winners[0])
			for i := range n {
				if i != winners[0] {
					checkEntry(t, cur[i], InFlight, w, "", time.Minute)
				}
			}
			if err := h.b.Release(t.Context(), k, w); err != nil {
				t.Fatalf("the winner cannot release: %v", err)
			}
		})
	}
}

func testBlobs(t *testing.T, h harness) {
	meta := make([]byte, 64)
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte(255 - i%256)
	}
	for i := range meta {
		meta[i] = byte(i * 4) // includes 0x00
	}
	want := bytes.Clone(meta)
	wantValue := bytes.Clone(value)
	k := key(t, "k")
	if _, ok, err := h.a.Reserve(t.Context(), k, "o1", meta, time.Minute); err != nil || !ok {
		t.Fatalf("Reserve: %v %v", ok, err)
	}
	meta[0] = 'X' // the caller reuses its buffer
	if err := h.a.Complete(t.Context(), k, "o1", Done, value, time.Minute); err != nil {
		t.Fatal(err)
	}
	value[0] = 'X'
	got := mustGet(t, h.b, k)
	if !bytes.Equal(got.Meta, want) || !bytes.Equal(got.Value, wantValue) {
		t.Fatalf("blobs changed: meta %x value %x", got.Meta, got.Value[:8])
	}
	got.Meta[1], got.Value[1] = 'Y', 'Y' // the caller scribbles on what it got
	again := mustGet(t, h.a, k)
	if !bytes.Equal(again.Meta, want) || !bytes.Equal(again.Value, wantValue) {
		t.Fatal("a returned entry aliases the stored one")
	}
}
