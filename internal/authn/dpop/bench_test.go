package dpop

import (
	"context"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/testenv"
)

// benchProofs is how many distinct proofs are signed up front; the store
// is replaced (timer stopped) each time they have all been used, so every
// timed Verify is a first sight that writes its jti.
const benchProofs = 1024

// BenchmarkVerify: one proof verification (parse, signature, claims, jti
// recorded) with an ES256 and an EdDSA key, on the memory store and on a
// local redis-server (one round trip).
func BenchmarkVerify(b *testing.B) {
	keys := testKeys(b)
	top := b
	var redisClient *redis.Client
	redisRuns := 0
	stores := []struct {
		name string
		new  func(b *testing.B, clock *testenv.Clock) sharedstate.Store
	}{
		{"memory", func(b *testing.B, clock *testenv.Clock) sharedstate.Store {
			st, err := sharedstate.NewMemory(benchProofs, sharedstate.MemoryOptions{Now: clock.Now})
			if err != nil {
				b.Fatal(err)
			}
			return st
		}},
		{"redis", func(b *testing.B, _ *testenv.Clock) sharedstate.Store {
			if redisClient == nil {
				// Started on top, so it outlives this sub-benchmark.
				redisClient = newRedisClient(top, testenv.StartRedis(top, testenv.RedisOptions{}).Addr())
			}
			// A new prefix each time: the keys of the last run are still there.
			redisRuns++
			return newRedisStore(b, redisClient, "bench:"+strconv.Itoa(redisRuns)+":")
		}},
	}
	for _, alg := range []string{"ES256", "EdDSA"} {
		k := keys[alg]
		proofs := make([]string, benchProofs)
		for i := range proofs {
			proofs[i] = validSpec(b, k, testNow).sign(b)
		}
		for _, sc := range stores {
			b.Run(alg+"/"+sc.name, func(b *testing.B) {
				clock := testenv.NewClock(testNow)
				newVerifier := func() *Verifier {
					return newTestVerifier(b, clock, Options{Replay: sc.new(b, clock)})
				}
				v := newVerifier()
				req := testRequest()
				ctx := context.Background()
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if i == benchProofs {
						b.StopTimer()
						v, i = newVerifier(), 0
						b.StartTimer()
					}
					if _, err := v.Verify(ctx, proofs[i], req); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		}
	}
}
