package keys_test

import (
	"github.com/portcullis/portcullis/internal/testenv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/store"
)

// Key verification cost per request. Cached: the hot path (parse, HMAC,
// constant-time compare, state checks, usage count). Uncached: the cache
// entry is past its ttl on every call, so each verification also reads the
// key and its consumer from the store and decrypts the metadata.

func benchVerify(b *testing.B, st store.Store, cached bool) {
	clock := testenv.NewClock(t0)
	svc := keystest.Service(b, st, keystest.NewSecrets(b), keys.Options{Clock: clock, CacheTTL: time.Second, UsageFlush: time.Hour})
	c := keystest.Consumer(b, svc, "bench")
	iss := keystest.Key(b, svc, c.ID, "accounts:read")
	if _, err := svc.Verify(bg, iss.Secret, clientIP); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !cached {
			clock.Advance(time.Second)
		}
		if _, err := svc.Verify(bg, iss.Secret, clientIP); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if !cached && svc.Stats().Misses.Load() < int64(b.N) {
		b.Fatalf("only %d of %d verifications read the store", svc.Stats().Misses.Load(), b.N)
	}
}

func BenchmarkVerifyCached(b *testing.B) { benchVerify(b, keystest.SQLite(b), true) }

func BenchmarkVerifyUncachedSQLite(b *testing.B) { benchVerify(b, keystest.SQLite(b), false) }

func BenchmarkVerifyUncachedPostgres(b *testing.B) {
	benchVerify(b, keystest.Postgres(b, pg.Database(b)), false)
}

func BenchmarkVerifyCachedParallel(b *testing.B) {
	svc := keystest.Service(b, keystest.SQLite(b), keystest.NewSecrets(b), keys.Options{UsageFlush: time.Hour, CacheTTL: time.Hour})
	c := keystest.Consumer(b, svc, "bench")
	var texts []string
	for i := 0; i < 64; i++ {
		texts = append(texts, keystest.Key(b, svc, c.ID).Secret)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := svc.Verify(bg, texts[i%len(texts)], clientIP); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkParse(b *testing.B) {
	text, _, _ := keys.Generate(keys.KindLive)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := keys.Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}
