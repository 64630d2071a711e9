package keys

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
)

// cache holds verification records by key id: a bounded LRU in shards, so
// concurrent requests rarely share a lock. An entry with a nil record
// remembers that the id does not exist.
//
// Invalidation (a revocation from the change feed) bumps a generation
// number. A load records the generation before it reads the database and
// its result is only cached if no invalidation happened meanwhile, so a
// slow read can never put back a record that a revocation just removed.
type cache struct {
	shards []cacheShard
	gen    atomic.Uint64
}

type cacheShard struct {
	mu  sync.Mutex
	m   map[string]*list.Element
	lru list.List // front: most recently used; values are *cacheEntry
	max int
}

type cacheEntry struct {
	id     string
	rec    *record // nil: the id is unknown
	loaded time.Time
}

const cacheShards = 16

func newCache(size int) *cache {
	per := max(1, (size+cacheShards-1)/cacheShards)
	c := &cache{shards: make([]cacheShard, cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*list.Element)
		c.shards[i].max = per
	}
	return c
}

// shard picks a shard from the id's characters, which are random.
func (c *cache) shard(id string) *cacheShard {
	var h byte
	if n := len(id); n > 0 {
		h = id[0] ^ id[n-1]<<3 ^ id[n/2]
	}
	return &c.shards[int(h)%cacheShards]
}

// get returns the entry for id (possibly stale: the caller decides) and
// marks it recently used.
func (c *cache) get(id string) (cacheEntry, bool) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.m[id]
	if !ok {
		return cacheEntry{}, false
	}
	s.lru.MoveToFront(el)
	return *el.Value.(*cacheEntry), true
}

// put stores rec for id unless an invalidation happened since gen.
func (c *cache) put(id string, rec *record, loaded time.Time, gen uint64) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if el, ok := s.m[id]; ok {
		el.Value = &cacheEntry{id: id, rec: rec, loaded: loaded}
		s.lru.MoveToFront(el)
		return
	}
	s.m[id] = s.lru.PushFront(&cacheEntry{id: id, rec: rec, loaded: loaded})
	for s.lru.Len() > s.max {
		old := s.lru.Back()
		s.lru.Remove(old)
		delete(s.m, old.Value.(*cacheEntry).id)
	}
}

// generation is read before a load.
func (c *cache) generation() uint64 { return c.gen.Load() }

// deleteKey drops one key.
func (c *cache) deleteKey(id string) {
	s := c.shard(id)
	s.mu.Lock()
	c.gen.Add(1)
	if el, ok := s.m[id]; ok {
		s.lru.Remove(el)
		delete(s.m, id)
	}
	s.mu.Unlock()
}

// deleteConsumer drops every key of a consumer. It scans the cache, which
// is fine for a rare event (a consumer is disabled or deleted).
func (c *cache) deleteConsumer(consumerID string) {
	c.gen.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for id, el := range s.m {
			if r := el.Value.(*cacheEntry).rec; r != nil && r.verified.ConsumerID == consumerID {
				s.lru.Remove(el)
				delete(s.m, id)
			}
		}
		s.mu.Unlock()
	}
}

// clear drops everything.
func (c *cache) clear() {
	c.gen.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.m = make(map[string]*list.Element)
		s.lru.Init()
		s.mu.Unlock()
	}
}

// len counts cached entries.
func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.lru.Len()
		s.mu.Unlock()
	}
	return n
}
