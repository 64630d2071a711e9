package gateway

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
)

// cannedUpstream answers every request in memory, so benchmarks measure
// the gateway alone.
type cannedUpstream struct{}

const cannedBody = `{"service":"bench-upstream","ok":true}`

func (cannedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}, "Server": {"x"}},
		Body:          io.NopCloser(strings.NewReader(cannedBody)),
		ContentLength: int64(len(cannedBody)),
		Request:       r,
	}, nil
}

const benchConfig = `
listeners:
  - name: public
    address: "127.0.0.1:0"
    insecure: true
upstreams:
  - name: up
    targets: ["http://127.0.0.1:1"]
routes:
  - name: echo
    path: /api/echo
    upstream: up
    auth: none
`

func benchGateway(b *testing.B, doc string, access bool) http.Handler {
	b.Helper()
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rt, err := Build(cfg, Deps{Log: log})
	if err != nil {
		b.Fatal(err)
	}
	for _, u := range rt.Upstreams() {
		u.UseTransport(cannedUpstream{})
	}
	var al *observe.AccessLog
	if access {
		cfg.Logging.Access.Output = b.TempDir() + "/access.log"
		if al, err = observe.NewAccessLog(cfg.Logging.Access); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { al.Close() })
	}
	return New(rt, al, observe.NewMetrics(), log).Handler(cfg.Listeners[0])
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Flush()                      {}

// BenchmarkChain measures the whole request path (request id, routing,
// chain, proxy, metrics, optional access log) without the network.
func BenchmarkChain(b *testing.B) {
	for _, tc := range []struct {
		name   string
		access bool
	}{{"plain", false}, {"access-log", true}} {
		b.Run(tc.name, func(b *testing.B) {
			h := benchGateway(b, benchConfig, tc.access)
			req := httptest.NewRequest("GET", "http://127.0.0.1/api/echo", nil)
			req.Header.Set("Authorization", "Bearer x")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
			}
		})
	}
}
