// Package tokencache owns remembering credential verdicts (a verified
// principal, or "known bad") by the SHA-256 of the credential, so hot tokens
// are not re-verified or re-introspected on every request. Memory is
// bounded by an estimate of each entry's size; entries expire on a clock.
// The cache outlives configuration reloads: callers mix a fingerprint of
// their configuration into the key, so a changed authenticator never sees
// verdicts made under its old settings.
package tokencache

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/principal"
)

// Key identifies a credential under one authenticator configuration.
type Key [sha256.Size]byte

// NewKey hashes an authenticator fingerprint and a credential into a Key.
// The credential itself is never stored.
func NewKey(fingerprint []byte, credential string) Key {
	h := sha256.New()
	h.Write(fingerprint)
	h.Write([]byte{0})
	h.Write([]byte(credential))
	var k Key
	h.Sum(k[:0])
	return k
}

// WithGeneration is k made distinct for each gen, so entries stored under
// an earlier generation are never found again (they age out).
func (k Key) WithGeneration(gen uint64) Key {
	for i := range 8 {
		k[i] ^= byte(gen >> (8 * i))
	}
	return k
}

// DefaultMaxBytes is the default memory budget.
const DefaultMaxBytes = 32 << 20

const shards = 16

// Cache is a sharded LRU of verdicts with expiry. It is safe for concurrent
// use.
type Cache struct {
	now    func() time.Time
	shards [shards]shard
}

type shard struct {
	mu       sync.Mutex
	items    map[Key]*list.Element
	lru      list.List // front is most recently used
	bytes    int64
	maxBytes int64
}

type entry struct {
	key     Key
	p       *principal.Principal // nil: known bad
	expires time.Time
	size    int64
}

// New returns a cache holding about maxBytes (DefaultMaxBytes if <= 0),
// using now as its clock (time.Now if nil).
func New(maxBytes int64, now func() time.Time) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if now == nil {
		now = time.Now
	}
	c := &Cache{now: now}
	for i := range c.shards {
		c.shards[i].items = map[Key]*list.Element{}
		c.shards[i].maxBytes = maxBytes / shards
	}
	return c
}

// Get returns the verdict for k: found is false when there is none (or it
// expired); a found nil principal means the credential is known to be bad.
// The returned principal is a copy the caller may modify; its slices and
// claims are shared and must be treated as read-only.
func (c *Cache) Get(k Key) (p *principal.Principal, found bool) {
	s := &c.shards[k[0]%shards]
	now := c.now()
	s.mu.Lock()
	el, ok := s.items[k]
	if !ok {
		s.mu.Unlock()
		return nil, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.expires) {
		s.remove(el)
		s.mu.Unlock()
		return nil, false
	}
	s.lru.MoveToFront(el)
	s.mu.Unlock()
	if e.p == nil {
		return nil, true
	}
	cp := *e.p
	return &cp, true
}

// Put remembers p (nil for "known bad") for k until expires. size is an
// estimate of the memory the verdict holds (e.g. the token length); Put
// evicts least recently used entries to stay within budget. A verdict that
// is already expired, or larger than a shard's budget, is not stored.
func (c *Cache) Put(k Key, p *principal.Principal, expires time.Time, size int) {
	if !c.now().Before(expires) {
		return
	}
	s := &c.shards[k[0]%shards]
	sz := int64(size) + 256 // map entry, list element, principal header
	if sz > s.maxBytes {
		return
	}
	if p != nil {
		cp := *p
		p = &cp
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.items[k]; ok {
		s.remove(el)
	}
	for s.bytes+sz > s.maxBytes {
		s.remove(s.lru.Back())
	}
	s.items[k] = s.lru.PushFront(&entry{key: k, p: p, expires: expires, size: sz})
	s.bytes += sz
}

// Len returns the number of entries (expired ones included until touched).
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.items)
		s.mu.Unlock()
	}
	return n
}

func (s *shard) remove(el *list.Element) {
	e := el.Value.(*entry)
	s.lru.Remove(el)
	delete(s.items, e.key)
	s.bytes -= e.size
}
