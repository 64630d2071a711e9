package sharedstate

import (
	"bytes"
	"container/heap"
	"context"
	"errors"
	"sync"
	"time"
)

// sweepBatch bounds how many expired entries one insert reclaims, so one
// request never pays for a backlog. Entries are reclaimed soonest deadline
// first, so if any has expired the first one goes: ErrFull means every
// entry is live.
const sweepBatch = 32

// Memory is the Store of a single gateway instance. It holds at most
// maxEntries live entries and, when full, refuses new ones with ErrFull
// instead of evicting: evicting a replay-cache entry before its TTL would
// let that replay through, and a refusal is visible while a silent eviction
// is not. The price is that a flood of distinct keys can make new
// reservations fail until entries expire, so size maxEntries for the
// expected rate times the TTL, and give flooders their own limit upstream.
//
// Expired entries are dropped when they are looked up and, soonest
// deadline first, on inserts (there is no background goroutine). Methods
// never block on I/O and ignore ctx.
//
// One mutex guards the store. Shards (BenchmarkMemory/*/parallel) measured
// no faster on 2 cores, and would make the bound per shard: ErrFull while
// other shards have room.
type Memory struct {
	max    int
	limits Limits
	now    func() time.Time

	mu      sync.Mutex
	entries map[Key]*memEntry
	byExp   expiryHeap
}

type memEntry struct {
	key   Key
	state State
	owner string // "" for Seen markers: no owner matches it
	meta  []byte
	value []byte
	exp   time.Time
	idx   int // position in byExp
}

// MemoryOptions configure NewMemory.
type MemoryOptions struct {
	Limits
	// Now is the clock; nil means time.Now. Tests pass testenv.Clock.Now.
	Now func() time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns a store holding at most maxEntries (> 0) live entries.
// Memory use is bounded by maxEntries × (MaxMetaBytes + MaxValueBytes +
// key + owner + about 220 bytes: BenchmarkMemoryFootprint).
func NewMemory(maxEntries int, opts MemoryOptions) (*Memory, error) {
	if maxEntries <= 0 {
		return nil, errors.New("sharedstate: maxEntries must be positive")
	}
	if err := opts.Limits.validate(); err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Memory{max: maxEntries, limits: opts.Limits, now: now, entries: make(map[Key]*memEntry)}, nil
}

// Len is the number of entries held, including expired ones not yet
// reclaimed.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Reserve implements Store.
func (m *Memory) Reserve(_ context.Context, k Key, owner string, meta []byte, ttl time.Duration) (Entry, bool, error) {
	ttl, err := checkOwned(k, owner, ttl)
	if err != nil {
		return Entry{}, false, err
	}
	if err := checkSize("meta", len(meta), m.limits.MaxMetaBytes); err != nil {
		return Entry{}, false, err
	}
	e := &memEntry{key: k, state: InFlight, owner: owner, meta: clone(meta)}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if cur := m.live(k, now); cur != nil {
		return cur.entry(now), false, nil
	}
	if err := m.insert(e, now, ttl); err != nil {
		return Entry{}, false, err
	}
	return Entry{}, true, nil
}

// Seen implements Store.
func (m *Memory) Seen(_ context.Context, k Key, ttl time.Duration) (bool, error) {
	if err := checkKey(k); err != nil {
		return false, err
	}
	ttl, err := checkTTL(ttl)
	if err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if m.live(k, now) != nil {
		return false, nil
	}
	if err := m.insert(&memEntry{key: k, state: Done}, now, ttl); err != nil {
		return false, err
	}
	return true, nil
}

// Extend implements Store.
func (m *Memory) Extend(_ context.Context, k Key, owner string, ttl time.Duration) error {
	ttl, err := checkOwned(k, owner, ttl)
	if err != nil {
		return err
	}
	return m.owned(k, owner, func(e *memEntry, now time.Time) {
		m.setExp(e, now.Add(ttl))
	})
}

// Complete implements Store.
func (m *Memory) Complete(_ context.Context, k Key, owner string, state State, value []byte, ttl time.Duration) error {
	ttl, err := checkOwned(k, owner, ttl)
	if err != nil {
		return err
	}
	if err := checkFinal(state); err != nil {
		return err
	}
	if err := checkSize("value", len(value), m.limits.MaxValueBytes); err != nil {
		return err
	}
	value = clone(value)
	return m.owned(k, owner, func(e *memEntry, now time.Time) {
		e.state, e.value = state, value
		m.setExp(e, now.Add(ttl))
	})
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, k Key, owner string) error {
	if err := checkKey(k); err != nil {
		return err
	}
	if err := checkOwner(owner); err != nil {
		return err
	}
	return m.owned(k, owner, func(e *memEntry, _ time.Time) { m.remove(e) })
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, k Key) (Entry, bool, error) {
	if err := checkKey(k); err != nil {
		return Entry{}, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	e := m.live(k, now)
	if e == nil {
		return Entry{}, false, nil
	}
	return e.entry(now), true, nil
}

// owned runs fn on k's live entry if owner holds it: the one place the
// owner rule is enforced for every mutating operation.
func (m *Memory) owned(k Key, owner string, fn func(*memEntry, time.Time)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	e := m.live(k, now)
	switch {
	case e == nil:
		return ErrNotFound
	case e.owner != owner:
		return ErrNotOwner
	}
	fn(e, now)
	return nil
}

// live returns k's entry, dropping it if it has expired. m.mu is held.
func (m *Memory) live(k Key, now time.Time) *memEntry {
	e := m.entries[k]
	if e == nil {
		return nil
	}
	if !now.Before(e.exp) {
		m.remove(e)
		return nil
	}
	return e
}

// insert adds e, after reclaiming expired entries. m.mu is held.
func (m *Memory) insert(e *memEntry, now time.Time, ttl time.Duration) error {
	for n := 0; n < sweepBatch && len(m.byExp) > 0 && !now.Before(m.byExp[0].exp); n++ {
		m.remove(m.byExp[0])
	}
	if len(m.entries) >= m.max {
		return ErrFull
	}
	e.exp = now.Add(ttl)
	m.entries[e.key] = e
	heap.Push(&m.byExp, e)
	return nil
}

func (m *Memory) remove(e *memEntry) {
	delete(m.entries, e.key)
	heap.Remove(&m.byExp, e.idx)
}

func (m *Memory) setExp(e *memEntry, exp time.Time) {
	e.exp = exp
	heap.Fix(&m.byExp, e.idx)
}

// entry copies e out, so callers cannot change what is stored.
func (e *memEntry) entry(now time.Time) Entry {
	return Entry{State: e.state, Meta: clone(e.meta), Value: clone(e.value), TTL: e.exp.Sub(now)}
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}

// expiryHeap orders entries by deadline, soonest first.
type expiryHeap []*memEntry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp.Before(h[j].exp) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*memEntry)
	e.idx = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
