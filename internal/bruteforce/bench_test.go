package bruteforce

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/testenv"
)

// BenchmarkGuardRedisNoBlock is the defence's cost on a request that
// authenticates while nothing is blocked, with the blocks shared through a
// real Redis: the common case of every request on a cluster.
func BenchmarkGuardRedisNoBlock(b *testing.B) {
	r := testenv.StartRedis(b, testenv.RedisOptions{})
	g := New(bruteForceConfig(10, 10), redisStores(b, r.Addr(), "bench:", nil), nil)
	up := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return nil })
	chain := guarded(b, g, up)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Key", "k.right")
	info := &reqinfo.Info{ID: "rid", ClientIP: netip.MustParseAddr("203.0.113.7")}
	req = req.WithContext(reqinfo.With(req.Context(), info))
	w := httptest.NewRecorder()
	for range 100 { // let the first horizon read land
		_ = chain.ServeHTTP(w, req)
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := chain.ServeHTTP(w, req); err != nil {
			b.Fatal(err)
		}
	}
}
