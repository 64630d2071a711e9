package ratelimit

import (
	"context"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells the time. Stores and the limiter take one so tests move time
// by hand and never sleep.
type Clock func() time.Time

const memoryShards = 64

// MemoryStore is the in-process Store: sharded maps of fixed-size entries
// keyed by a seeded 64-bit hash of the key (the key string itself is not
// kept), with a hard bound on the number of keys. When a shard is full the
// entries that have already expired go first, then the sampled entry
// closest to expiry, so a flood of distinct keys (spoofed IPs, random
// header values) cannot grow memory without bound and mostly evicts its
// own short-lived entries.
type MemoryStore struct {
	clock     Clock
	seed      maphash.Seed
	perShard  int
	shards    [memoryShards]memShard
	evictions atomic.Uint64
	// blockedUntil is the end of the latest block ever set (µs): before it
	// nothing can be blocked, so the common case (no attack) costs one
	// atomic load instead of digests and lookups.
	blockedUntil atomic.Int64
}

var _ Store = (*MemoryStore)(nil)

type memShard struct {
	mu sync.Mutex
	m  map[uint64]entry
	_  [48]byte // one 64-byte cache line per shard: no false sharing
}

// entry is one key's state in 16 bytes. For a rate limit exp is the TAT
// itself; for a quota it is the end of the counted window, which also
// identifies the window.
type entry struct {
	a   int64 // quota, failures, offences: count; concurrency: in flight
	exp int64 // µs after which the entry means nothing and may be dropped
}

// NewMemoryStore returns a store holding at most maxKeys keys (rounded up
// to a multiple of the shard count).
func NewMemoryStore(maxKeys int, clock Clock) *MemoryStore {
	if clock == nil {
		clock = time.Now
	}
	s := &MemoryStore{clock: clock, seed: maphash.MakeSeed(), perShard: max(1, (maxKeys+memoryShards-1)/memoryShards)}
	for i := range s.shards {
		s.shards[i].m = map[uint64]entry{}
	}
	return s
}

func (s *MemoryStore) hash(key string) uint64 { return maphash.String(s.seed, key) }

func (s *MemoryStore) shard(h uint64) *memShard { return &s.shards[h%memoryShards] }

// Len returns the number of keys held.
func (s *MemoryStore) Len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// Evictions returns how many live keys were dropped to stay within the
// bound.
func (s *MemoryStore) Evictions() uint64 { return s.evictions.Load() }

// put stores e under h, making room first when h is new. It also drops a
// couple of expired entries on every insert, so idle keys do not linger
// until the shard is full.
func (s *MemoryStore) put(sh *memShard, h uint64, e entry, now int64) {
	if _, ok := sh.m[h]; !ok {
		full := len(sh.m) >= s.perShard
		sample := 2
		if full {
			sample = 8
		}
		var victim uint64
		victimExp, haveVictim, seen := int64(math.MaxInt64), false, 0
		for k, v := range sh.m {
			if v.exp <= now {
				delete(sh.m, k)
			} else if v.exp < victimExp || !haveVictim {
				victim, victimExp, haveVictim = k, v.exp, true
			}
			if seen++; seen >= sample {
				break
			}
		}
		if len(sh.m) >= s.perShard && haveVictim {
			delete(sh.m, victim)
			s.evictions.Add(1)
		}
	}
	sh.m[h] = e
}

// get returns the live entry under h.
func (sh *memShard) get(h uint64, now int64) (entry, bool) {
	e, ok := sh.m[h]
	if !ok || e.exp <= now {
		return entry{}, false
	}
	return e, true
}

// Check implements Store. Every shard the batch touches is locked (in
// index order, so concurrent batches cannot deadlock) for the whole batch,
// which makes all-or-nothing charging atomic.
func (s *MemoryStore) Check(_ context.Context, checks []Check) ([]Result, error) {
	now := us(s.clock())
	var hashBuf [8]uint64
	hashes := hashBuf[:0]
	var lockBuf [8]int
	locked := lockBuf[:0]
	for _, c := range checks {
		h := s.hash(c.Key)
		hashes = append(hashes, h)
		locked = insertSorted(locked, int(h%memoryShards))
	}
	for _, i := range locked {
		s.shards[i].mu.Lock()
	}
	defer func() {
		for _, i := range locked {
			s.shards[i].mu.Unlock()
		}
	}()

	results := make([]Result, len(checks))
	var writeBuf [8]entry
	writes := writeBuf[:0]
	all := true
	for i, c := range checks {
		sh := s.shard(hashes[i])
		e, found := sh.get(hashes[i], now)
		var w entry
		switch c.Kind {
		case KindRate:
			iv := durUs(c.Interval)
			o := gcra(e.exp, now, iv, c.Burst, c.Cost)
			results[i] = Result{Allowed: o.allowed, Remaining: o.remaining, Reset: usDur(o.reset), RetryAfter: usDur(o.retry)}
			w = entry{exp: o.tat}
		case KindQuota:
			win := c.Windows[pickWindow(c.Windows, now)]
			end := us(win.End)
			count := int64(0)
			if found && e.exp == end {
				count = e.a
			}
			results[i] = quotaOutcome(count, c.Limit, c.Cost, now, end)
			w = entry{a: count + c.Cost, exp: end}
		case KindConcurrency:
			results[i] = concurrencyOutcome(e.a, c.Limit)
			w = entry{a: e.a + 1, exp: math.MaxInt64}
		}
		all = all && results[i].Allowed
		writes = append(writes, w)
	}
	if all {
		for i := range checks {
			s.put(s.shard(hashes[i]), hashes[i], writes[i], now)
		}
	}
	return results, nil
}

// concurrencyOutcome decides a concurrency check with inFlight requests
// already running. A rejected client is told to retry in a second: there
// is no way to know when a slot frees up.
func concurrencyOutcome(inFlight, limit int64) Result {
	if inFlight < limit {
		return Result{Allowed: true, Remaining: limit - inFlight - 1}
	}
	return Result{RetryAfter: time.Second}
}

func insertSorted(s []int, v int) []int {
	for i, x := range s {
		if x == v {
			return s
		}
		if x > v {
			s = append(s, 0)
			copy(s[i+1:], s[i:])
			s[i] = v
			return s
		}
	}
	return append(s, v)
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, leases []Lease) error {
	for _, l := range leases {
		h := s.hash(l.Key)
		sh := s.shard(h)
		sh.mu.Lock()
		if e, ok := sh.m[h]; ok {
			if e.a <= 1 {
				delete(sh.m, h)
			} else {
				e.a--
				sh.m[h] = e
			}
		}
		sh.mu.Unlock()
	}
	return nil
}

// Blocked implements Store.
func (s *MemoryStore) Blocked(_ context.Context, keys []string) (time.Duration, error) {
	now := us(s.clock())
	if !s.mayBlock(now) {
		return 0, nil
	}
	var longest int64
	for _, k := range keys {
		h := s.hash(blockKey(k))
		sh := s.shard(h)
		sh.mu.Lock()
		if e, ok := sh.get(h, now); ok {
			longest = max(longest, e.exp-now)
		}
		sh.mu.Unlock()
	}
	return usDur(longest), nil
}

// Fail implements Store with the same ladder as penalty.lua.
func (s *MemoryStore) Fail(_ context.Context, failures []Failure, p Penalty) ([]time.Duration, error) {
	now := us(s.clock())
	out := make([]time.Duration, len(failures))
	for i, f := range failures {
		if f.Threshold <= 0 {
			continue
		}
		var count int64
		s.update(failKey(f.Key), now, func(e entry, found bool) (entry, bool) {
			if !found {
				e = entry{exp: now + durUs(p.Window)}
			}
			e.a++
			count = e.a
			return e, e.a < f.Threshold // the count restarts once it blocks
		})
		if count < f.Threshold {
			continue
		}
		var offences int64
		s.update(offenceKey(f.Key), now, func(e entry, _ bool) (entry, bool) {
			offences = e.a + 1
			return entry{a: offences, exp: now + durUs(p.Forget)}, true
		})
		d := ladderStep(p.Ladder, offences)
		for until := now + durUs(d); ; {
			cur := s.blockedUntil.Load()
			if cur >= until || s.blockedUntil.CompareAndSwap(cur, until) {
				break
			}
		}
		s.update(blockKey(f.Key), now, func(e entry, found bool) (entry, bool) {
			if found && e.exp >= now+durUs(d) {
				return e, true // never shorten a longer block
			}
			return entry{a: 1, exp: now + durUs(d)}, true
		})
		out[i] = d
	}
	return out, nil
}

// mayBlock reports whether any block can still be in force at now.
func (s *MemoryStore) mayBlock(now int64) bool { return s.blockedUntil.Load() > now }

// MayBlock reports whether any block can be in force now.
func (s *MemoryStore) MayBlock() bool { return s.mayBlock(us(s.clock())) }

// update replaces the entry under key with fn's result (or deletes it when
// keep is false).
func (s *MemoryStore) update(key string, now int64, fn func(e entry, found bool) (entry, bool)) {
	h := s.hash(key)
	sh := s.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, found := sh.get(h, now)
	ne, keep := fn(e, found)
	if !keep {
		delete(sh.m, h)
		return
	}
	s.put(sh, h, ne, now)
}

// ladderStep is the block for the n-th offence (1-based).
func ladderStep(ladder []time.Duration, n int64) time.Duration {
	if len(ladder) == 0 {
		return 0
	}
	return ladder[min(n, int64(len(ladder)))-1]
}

// Brute-force sub-keys of a source key.
func failKey(k string) string    { return k + ":fail" }
func offenceKey(k string) string { return k + ":offences" }
func blockKey(k string) string   { return k + ":block" }
