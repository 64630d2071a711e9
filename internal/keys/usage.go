package keys

import (
	"context"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/store"
)

// usageRecorder counts uses of verified keys in memory and writes them in
// one batch per flush, so a request never waits on a database write. Only
// keys that verified are recorded, so its size is bounded by the number of
// real keys in use, not by what clients send.
type usageRecorder struct {
	shards [cacheShards]usageShard
}

type usageShard struct {
	mu sync.Mutex
	m  map[string]*store.Usage
}

func (u *usageRecorder) shard(id string) *usageShard {
	var h byte
	if n := len(id); n > 0 {
		h = id[0] ^ id[n-1]<<3 ^ id[n/2]
	}
	return &u.shards[int(h)%cacheShards]
}

func (u *usageRecorder) record(id string, now time.Time) {
	s := u.shard(id)
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string]*store.Usage)
	}
	e := s.m[id]
	if e == nil {
		e = &store.Usage{KeyID: id}
		s.m[id] = e
	}
	e.Count++
	if now.After(e.LastUsed) {
		e.LastUsed = now
	}
	s.mu.Unlock()
}

// take removes and returns everything recorded so far.
func (u *usageRecorder) take() []store.Usage {
	var out []store.Usage
	for i := range u.shards {
		s := &u.shards[i]
		s.mu.Lock()
		for _, e := range s.m {
			out = append(out, *e)
		}
		s.m = nil
		s.mu.Unlock()
	}
	return out
}

// putBack merges a batch that could not be written, so counts survive a
// brief database outage.
func (u *usageRecorder) putBack(batch []store.Usage) {
	for _, b := range batch {
		s := u.shard(b.KeyID)
		s.mu.Lock()
		if s.m == nil {
			s.m = make(map[string]*store.Usage)
		}
		e := s.m[b.KeyID]
		if e == nil {
			e = &store.Usage{KeyID: b.KeyID}
			s.m[b.KeyID] = e
		}
		e.Count += b.Count
		if b.LastUsed.After(e.LastUsed) {
			e.LastUsed = b.LastUsed
		}
		s.mu.Unlock()
	}
}

// flush writes what was recorded; on failure it keeps it for next time.
func (u *usageRecorder) flush(ctx context.Context, st store.Store) error {
	batch := u.take()
	if len(batch) == 0 {
		return nil
	}
	if err := st.RecordUsage(ctx, batch); err != nil {
		u.putBack(batch)
		return err
	}
	return nil
}
