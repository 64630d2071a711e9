package sharedstate

import (
	"context"
	"hash/maphash"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testenv"
)

// Keys recur after benchKeys operations, by when (with the 1ms TTL and the
// real clock) their entries have expired, so Reserve and Seen always write
// and the store stays at a steady size with the sweep at work.
const benchKeys = 1 << 16

func benchKeySet(scope string) []Key {
	ks := make([]Key, benchKeys)
	for i := range ks {
		ks[i] = Key{Scope: scope, ID: "id-" + strconv.Itoa(i)}
	}
	return ks
}

var benchMeta = []byte("0123456789abcdef0123456789abcdef") // a SHA-256 fingerprint

// BenchmarkMemory: one operation on the memory store; "parallel" runs one
// goroutine per CPU against one store, with one mutex (what Memory is) and
// with 16 shards (what it is not: see Memory's doc).
func BenchmarkMemory(b *testing.B) {
	ops := []struct {
		name string
		do   func(st Store, k Key) error
	}{
		{"Reserve", func(st Store, k Key) error {
			_, _, err := st.Reserve(context.Background(), k, "owner", benchMeta, time.Millisecond)
			return err
		}},
		{"Seen", func(st Store, k Key) error { _, err := st.Seen(context.Background(), k, time.Millisecond); return err }},
	}
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			st := benchMemory(b)
			ks := benchKeySet("s")
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if err := op.do(st, ks[i%benchKeys]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		for _, v := range []struct {
			name string
			st   func(b *testing.B) Store
		}{
			{"parallel/mutex", func(b *testing.B) Store { return benchMemory(b) }},
			{"parallel/16-shards", func(b *testing.B) Store { return newShardedMemory(b, 16) }},
		} {
			b.Run(op.name+"/"+v.name, func(b *testing.B) {
				st := v.st(b)
				var g atomic.Int64
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					ks := benchKeySet("g" + strconv.FormatInt(g.Add(1), 10))
					for i := 0; pb.Next(); i++ {
						if err := op.do(st, ks[i%benchKeys]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
	b.Run("Get", func(b *testing.B) {
		st := benchMemory(b)
		k := Key{Scope: "s", ID: "held"}
		if _, _, err := st.Reserve(context.Background(), k, "owner", benchMeta, time.Hour); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, ok, _ := st.Get(context.Background(), k); !ok {
				b.Fatal("absent")
			}
		}
	})
}

// BenchmarkMemoryFootprint reports the heap held per Reserve'd entry (a
// 32-byte meta, 10-byte ID).
func BenchmarkMemoryFootprint(b *testing.B) {
	const n = 100_000
	ks := make([]Key, n)
	for i := range ks {
		ks[i] = Key{Scope: "client-1234", ID: "jti-" + strconv.Itoa(1_000_000+i)}
	}
	var perEntry float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		st, _ := NewMemory(n, MemoryOptions{Limits: testLimits})
		for _, k := range ks {
			if _, _, err := st.Reserve(context.Background(), k, "owner-token-26-characters!", benchMeta, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(st)
	}
	b.ReportMetric(perEntry, "B/entry")
}

func benchMemory(b *testing.B) *Memory {
	st, err := NewMemory(1<<22, MemoryOptions{Limits: testLimits})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// shardedMemory is the alternative measured against Memory's one mutex.
type shardedMemory struct {
	Store
	seed   maphash.Seed
	shards []*Memory
}

func newShardedMemory(b *testing.B, n int) *shardedMemory {
	s := &shardedMemory{seed: maphash.MakeSeed()}
	for range n {
		st, err := NewMemory(1<<22/n, MemoryOptions{Limits: testLimits})
		if err != nil {
			b.Fatal(err)
		}
		s.shards = append(s.shards, st)
	}
	return s
}

func (s *shardedMemory) shard(k Key) *Memory {
	return s.shards[maphash.Comparable(s.seed, k)%uint64(len(s.shards))]
}

func (s *shardedMemory) Reserve(ctx context.Context, k Key, owner string, meta []byte, ttl time.Duration) (Entry, bool, error) {
	return s.shard(k).Reserve(ctx, k, owner, meta, ttl)
}

func (s *shardedMemory) Seen(ctx context.Context, k Key, ttl time.Duration) (bool, error) {
	return s.shard(k).Seen(ctx, k, ttl)
}

// BenchmarkRedis: one operation, one round trip to a local redis-server.
func BenchmarkRedis(b *testing.B) {
	r := testenv.StartRedis(b, testenv.RedisOptions{})
	st := newRedisStore(b, newClient(b, r.Addr(), false))
	ctx := context.Background()
	held := Key{Scope: "s", ID: "held"}
	if _, _, err := st.Reserve(ctx, held, "owner", benchMeta, time.Hour); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	ops := []struct {
		name string
		do   func() error
	}{
		{"Reserve", func() error {
			_, _, err := st.Reserve(ctx, Key{Scope: "s", ID: strconv.FormatInt(n.Add(1), 10)}, "owner", benchMeta, time.Minute)
			return err
		}},
		{"Seen", func() error {
			_, err := st.Seen(ctx, Key{Scope: "s", ID: strconv.FormatInt(n.Add(1), 10)}, time.Minute)
			return err
		}},
		{"Get", func() error { _, _, err := st.Get(ctx, held); return err }},
		{"Extend", func() error { return st.Extend(ctx, held, "owner", time.Hour) }},
	}
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := op.do(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(op.name+"/parallel", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := op.do(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
