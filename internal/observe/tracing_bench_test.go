package observe

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// BenchmarkTracing is the tracing cost of one request (span start and end,
// trace context in and out), unsampled and sampled.
func BenchmarkTracing(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer sink.Close()
	b.Run("baseline-request-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = httptest.NewRequest("GET", "/v1/accounts/1", nil)
		}
	})
	for _, ratio := range []float64{0, 1} {
		b.Run(map[float64]string{0: "unsampled", 1: "sampled"}[ratio], func(b *testing.B) {
			cfg := config.WithDefaults(config.Tracing{Enabled: true, Endpoint: sink.URL + "/v1/traces", Insecure: true, SampleRatio: &ratio})
			tr, err := NewTracing(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			info := &reqinfo.Info{ID: "rid", Route: "accounts"}
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("GET", "/v1/accounts/1", nil)
				_, span := tr.Start(r)
				tr.End(span, "GET", info, 200)
			}
		})
	}
}
