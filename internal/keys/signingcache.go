package keys

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// sigCache holds what signature verification read from the store: signing
// keys by consumer and keyid, and identity mappings by issuer and client.
// It is bounded (keys.cache.size entries), expires entries after
// keys.cache.ttl (negative ones after negative_ttl), is invalidated by the
// change feed, and serves an expired entry for up to stale_if_error when
// the store cannot be read. As in the API-key cache, a load only stores
// its result if no invalidation happened while it read, so a slow read
// cannot put back a key a revocation just removed.
type sigCache struct {
	mu  sync.Mutex
	m   map[string]sigEntry
	max int
	gen uint64
}

type sigEntry struct {
	v      any // nil: known not to exist
	loaded time.Time
}

func newSigCache(max int) *sigCache { return &sigCache{m: map[string]sigEntry{}, max: max} }

// load returns the value under ck, reading it with fetch when it is not
// cached or has expired.
func (c *sigCache) load(ck string, now time.Time, o Options, fetch func() (any, error)) (any, error) {
	c.mu.Lock()
	e, ok := c.m[ck]
	gen := c.gen
	c.mu.Unlock()
	ttl := o.CacheTTL
	if ok && e.v == nil {
		ttl = o.NegativeTTL
	}
	if ok && now.Before(e.loaded.Add(ttl)) {
		return e.v, nil
	}
	v, err := fetch()
	if err != nil {
		if ok && e.v != nil && now.Before(e.loaded.Add(ttl+o.StaleIfError)) {
			return e.v, nil
		}
		return nil, fmt.Errorf("%w: %w", ErrSigningKeysUnavailable, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		if _, had := c.m[ck]; !had && len(c.m) >= c.max {
			for k := range c.m { // an arbitrary entry: map order is random
				delete(c.m, k)
				break
			}
		}
		c.m[ck] = sigEntry{v: v, loaded: now}
	}
	return v, nil
}

// dropConsumer forgets a consumer's signing keys and every identity
// mapping (a consumer deleted or disabled takes its mappings with it).
func (c *sigCache) dropConsumer(consumer string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	prefix := "k\x00" + consumer + "\x00"
	for k := range c.m {
		if strings.HasPrefix(k, prefix) || strings.HasPrefix(k, "i\x00") {
			delete(c.m, k)
		}
	}
}

// dropIdentities forgets every identity mapping.
func (c *sigCache) dropIdentities() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k := range c.m {
		if strings.HasPrefix(k, "i\x00") {
			delete(c.m, k)
		}
	}
}

func (c *sigCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.m = map[string]sigEntry{}
}
