package ratelimit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// BenchmarkMemoryCheck is one rate check on one key.
func BenchmarkMemoryCheck(b *testing.B) {
	st := NewMemoryStore(1_000_000, nil)
	c := []Check{{Kind: KindRate, Key: "k", Cost: 1, Interval: time.Nanosecond * 1000, Burst: 1 << 40}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = st.Check(ctx, c)
	}
}

// BenchmarkLimiterMiddleware is the whole per-request cost on the memory
// store: key, digest, one rate and one quota check, headers.
func BenchmarkLimiterMiddleware(b *testing.B) {
	cfg := &config.Config{RateLimits: config.RateLimits{
		Instances: 1,
		Policies: []config.RateLimitPolicy{{Name: "p", Key: []string{"consumer"}, OnMissingKey: "client_ip", OnStoreError: "local",
			Rate:  &config.RateSpec{Limit: 1_000_000, Period: config.Duration(time.Second), Burst: 1_000_000_000},
			Quota: &config.QuotaSpec{Limit: 1_000_000_000_000, Period: "month"}}},
	}}
	stores, err := NewStores(config.WithDefaults(config.RateLimitStore{Type: "memory", MaxKeys: 1_000_000}), Options{})
	if err != nil {
		b.Fatal(err)
	}
	l := New(cfg.RateLimits, stores)
	h := l.Route(config.Route{Name: "r", RateLimits: []string{"p"}, Timeout: config.Duration(time.Minute)}).
		Handle(pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		info := &reqinfo.Info{Route: "r", ClientIP: netip.MustParseAddr("192.0.2.1")}
		consumers := make([]*principal.Principal, 1000)
		for i := range consumers {
			consumers[i] = &principal.Principal{ConsumerID: "c" + strconv.Itoa(i)}
		}
		r := httptest.NewRequest("GET", "/", nil).WithContext(reqinfo.With(context.Background(), info))
		w := &headerWriter{h: http.Header{}}
		i := 0
		for pb.Next() {
			i++
			info.Principal = consumers[i%len(consumers)]
			clear(w.h)
			if err := h.ServeHTTP(w, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// headerWriter is a ResponseWriter that only keeps headers, so the
// benchmark measures the limiter rather than response recording.
type headerWriter struct{ h http.Header }

func (w *headerWriter) Header() http.Header         { return w.h }
func (w *headerWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *headerWriter) WriteHeader(int)             {}
