package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/testissuer"
	"github.com/portcullis/portcullis/internal/tokencache"
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

// benchJWT adds a JWT authenticator (keys from a local JWKS file), a rate
// limit high enough never to trigger, and the route auth to benchConfig.
func benchJWT(jwksFile string) string {
	return strings.Replace(benchConfig, "    auth: none\n", `    auth: {authenticators: [bench-jwt]}
    rate_limits: [per-consumer]
authenticators:
  - name: bench-jwt
    jwt:
      issuers:
        - issuer: "https://issuer.bench.local"
          audiences: [bench-api]
          jwks_file: "`+jwksFile+`"
          algorithms: [RS256]
rate_limits:
  policies:
    - name: per-consumer
      key: [consumer]
      rate: {limit: 1000000, period: 1s}
`, 1)
}

func benchGateway(b *testing.B, doc string, access bool, sampleRatio float64) http.Handler {
	b.Helper()
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rt, err := Build(cfg, Deps{Log: log, JWKS: jwks.NewRegistry(log, nil), TokenCache: tokencache.New(tokencache.DefaultMaxBytes, nil)})
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
	g := New(rt, al, observe.NewMetrics(), log)
	if sampleRatio > 0 {
		// Spans exported to a loopback sink that accepts and drops; at
		// ratio 1 every request is recorded, the worst case.
		sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-protobuf")
		}))
		b.Cleanup(sink.Close)
		cfg.Tracing = config.WithDefaults(config.Tracing{Enabled: true, Endpoint: sink.URL + "/v1/traces", Insecure: true, SampleRatio: &sampleRatio})
		tr, err := observe.NewTracing(cfg.Tracing)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
		g.SetTracing(tr)
	}
	return g.Handler(cfg.Listeners[0])
}

type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return len(p), nil
}
func (d *discardWriter) WriteHeader(code int) { d.status = code }
func (d *discardWriter) Flush()               {}

// BenchmarkChain measures the whole request path (request id, routing,
// chain, proxy, metrics, optional access log) without the network.
func BenchmarkChain(b *testing.B) {
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer is.Close()
	jwksFile := b.TempDir() + "/jwks.json"
	if err := os.WriteFile(jwksFile, is.JWKS(), 0o600); err != nil {
		b.Fatal(err)
	}
	claims := is.Claims("bench-api", "bench-user", "", time.Now(), time.Hour)
	claims["iss"] = "https://issuer.bench.local"
	token := is.Sign(claims)
	for _, tc := range []struct {
		name   string
		doc    string
		access bool
		sample float64 // tracing.sample_ratio; 0: tracing off
	}{
		{"plain", benchConfig, false, 0},
		{"access-log", benchConfig, true, 0},
		{"jwt-ratelimit", benchJWT(jwksFile), false, 0},
		{"jwt-ratelimit-access-log", benchJWT(jwksFile), true, 0},
		{"jwt-ratelimit-access-log-tracing-10pct", benchJWT(jwksFile), true, 0.1},
		{"jwt-ratelimit-access-log-tracing-all", benchJWT(jwksFile), true, 1},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := benchGateway(b, tc.doc, tc.access, tc.sample)
			req := httptest.NewRequest("GET", "http://127.0.0.1/api/echo", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			var w *discardWriter
			serve := func() {
				w = &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
			}
			serve()
			if w.status != http.StatusOK {
				b.Fatalf("status %d before timing", w.status)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				serve()
			}
			b.StopTimer()
			// Rate limits in the chain must not have turned the timed
			// requests into rejections.
			if w.status != http.StatusOK {
				b.Fatalf("status %d after %d requests", w.status, b.N)
			}
		})
	}
}
