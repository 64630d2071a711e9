package secmon

import (
	"net/netip"
	"time"
)

// Detectors count over sliding windows approximated by buckets: a window
// is split into nBuckets slices, and a count is the sum of the slices that
// are not older than the window. Memory per tracked source is fixed, and
// the error is at most one slice (a tenth of the window).
const nBuckets = 10

// window is one sliding count.
type window struct {
	head   int64 // the newest bucket number (time / bucket width)
	counts [nBuckets]uint32
}

// width is the bucket width of a window of length w.
func width(w time.Duration) int64 { return max(int64(w)/nBuckets, 1) }

func bucketOf(t time.Time, w int64) int64 { return t.UnixNano() / w }

// advance moves the window to bucket b, clearing buckets that fell out.
func (c *window) advance(b int64) {
	if b <= c.head {
		return
	}
	if b-c.head >= nBuckets {
		c.counts = [nBuckets]uint32{}
	} else {
		for i := c.head + 1; i <= b; i++ {
			c.counts[i%nBuckets] = 0
		}
	}
	c.head = b
}

// add counts n at bucket b (ignored when older than the window) and
// returns the window's total.
func (c *window) add(b int64, n uint32) uint32 {
	c.advance(b)
	if b > c.head-nBuckets {
		c.counts[b%nBuckets] += n
	}
	return c.total()
}

func (c *window) total() uint32 {
	var t uint32
	for _, n := range c.counts {
		t += n
	}
	return t
}

func (c *window) reset() { c.counts = [nBuckets]uint32{} }

// idle reports whether nothing was counted in the window ending at b.
func (c *window) idle(b int64) bool { return b-c.head >= nBuckets || c.total() == 0 }

// distinct counts distinct values (hashes) seen within a window, keeping
// each value's last bucket. It is bounded by the caller's threshold:
// callers stop adding once a detection fired.
type distinct map[uint64]int64

// add records v at bucket b and returns how many distinct values are
// within the window. Stale values are dropped when the set grows.
func (d distinct) add(v uint64, b int64, limit int) int {
	d[v] = b
	if len(d) >= limit {
		d.prune(b)
	}
	return len(d)
}

func (d distinct) prune(b int64) {
	for v, at := range d {
		if at <= b-nBuckets {
			delete(d, v)
		}
	}
}

// table is a detector's tracked sources, bounded: when full, the sources
// idle longest are forgotten first (in a batch, so the cost is amortised),
// and if every one is active, an arbitrary one is.
type table[K comparable, V any] struct {
	max     int
	entries map[K]*tracked[V]
	evicted func()
}

type tracked[V any] struct {
	last int64 // last bucket seen
	v    V
}

func newTable[K comparable, V any](max int, evicted func()) *table[K, V] {
	return &table[K, V]{max: max, entries: map[K]*tracked[V]{}, evicted: evicted}
}

// get returns k's state, creating it with mk; b is the current bucket.
func (t *table[K, V]) get(k K, b int64, mk func() V) *V {
	e := t.entries[k]
	if e == nil {
		if len(t.entries) >= t.max {
			t.sweep(b)
		}
		if len(t.entries) >= t.max {
			for victim := range t.entries {
				delete(t.entries, victim)
				t.evicted()
				break
			}
		}
		e = &tracked[V]{v: mk()}
		t.entries[k] = e
	}
	e.last = b
	return &e.v
}

// sweep forgets sources idle for a whole window ending at b.
func (t *table[K, V]) sweep(b int64) {
	for k, e := range t.entries {
		if b-e.last >= nBuckets {
			delete(t.entries, k)
		}
	}
}

func (t *table[K, V]) remove(k K) { delete(t.entries, k) }

// sourceOf is the client address detectors count per: the address itself
// for IPv4, its /64 for IPv6 (one host's allocation, which an attacker can
// rotate through freely).
func sourceOf(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// sourceString names a source for events and blocks: "203.0.113.9" or
// "2001:db8:1:2::/64".
func sourceString(a netip.Addr) string {
	if a.Is6() {
		return netip.PrefixFrom(a, 64).String()
	}
	return a.String()
}

// hashString is FNV-1a, for counting distinct values without keeping them.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
