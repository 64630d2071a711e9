package dpopbench

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/testenv"
	"github.com/portcullis/portcullis/internal/testissuer"
	"github.com/portcullis/portcullis/internal/tokencache"
)

// canned answers every request in memory: the benchmark measures the
// gateway, not an upstream.
type canned struct{}

func (canned) RoundTrip(r *http.Request) (*http.Response, error) {
	const body = `{"ok":true}`
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: r}, nil
}

// The same jwt authenticator (ES256 tokens, verified-token cache on) on
// two routes: /bearer takes plain bearer tokens, /dpop the same tokens
// bound to a key, with proofs.
const benchConfig = `
listeners: [{name: public, address: "127.0.0.1:0", insecure: true}]
upstreams: [{name: up, targets: ["http://127.0.0.1:1"]}]
authenticators:
  - name: bench-jwt
    jwt:
      issuers: [{issuer: "{{ISS}}", audiences: [api], jwks_file: "{{JWKS}}", algorithms: [ES256]}]
      dpop: {}
routes:
  - {name: bearer, path: /bearer, upstream: up, auth: {authenticators: [bench-jwt]}}
  - {name: dpop, path: /dpop, upstream: up, auth: {authenticators: [bench-jwt]}}
`

// batch is how many requests are prepared (proofs signed) with the timer
// stopped; every timed request carries a proof never sent before.
const batch = 2048

func BenchmarkDPoP(b *testing.B) {
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer is.Close()
	jwksFile := filepath.Join(b.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, is.JWKS(), 0o600); err != nil {
		b.Fatal(err)
	}
	doc := strings.NewReplacer("{{ISS}}", is.URL(), "{{JWKS}}", jwksFile).Replace(benchConfig)
	rd := testenv.StartRedis(b, testenv.RedisOptions{})
	rc := redis.NewClient(&redis.Options{Addr: rd.Addr(), MaxRetries: -1, DisableIdentity: true, PoolSize: 4,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	defer rc.Close()
	runs := 0
	stores := map[string]func() sharedstate.Store{
		"memory": func() sharedstate.Store {
			st, err := sharedstate.NewMemory(50_000_000, sharedstate.MemoryOptions{})
			if err != nil {
				b.Fatal(err)
			}
			return st
		},
		"redis": func() sharedstate.Store {
			runs++ // a fresh prefix each run: earlier runs' jti are still there
			st, err := sharedstate.NewRedis(rc, "bench"+string(rune('a'+runs%26))+time.Now().Format("150405.000")+":", sharedstate.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			return st
		},
	}
	cases := []struct {
		name, store, alg string // alg "": a bearer token, no proof
	}{
		{"jwt-bearer", "memory", ""},
		{"dpop-ES256-memory", "memory", "ES256"},
		{"dpop-EdDSA-memory", "memory", "EdDSA"},
		{"dpop-ES256-redis", "redis", "ES256"},
		{"dpop-EdDSA-redis", "redis", "EdDSA"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := handler(b, doc, stores[c.store]())
			next := requests(b, is, c.alg)
			reqs := next()
			serve(b, h, reqs[0]) // the token is verified once, then cached
			reqs = reqs[1:]
			var ru0, ru1 syscall.Rusage
			b.ReportAllocs()
			b.ResetTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			cpu := time.Duration(0)
			for i := 0; i < b.N; i++ {
				if len(reqs) == 0 {
					b.StopTimer()
					_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
					cpu += rusageCPU(ru1) - rusageCPU(ru0)
					reqs = next()
					_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
					b.StartTimer()
				}
				serve(b, h, reqs[0])
				reqs = reqs[1:]
			}
			b.StopTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu += rusageCPU(ru1) - rusageCPU(ru0)
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

func rusageCPU(ru syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// handler is a gateway listener's handler on doc with replay store st.
func handler(b *testing.B, doc string, st sharedstate.Store) http.Handler {
	b.Helper()
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rt, err := gateway.Build(cfg, gateway.Deps{Log: log, JWKS: jwks.NewRegistry(log, nil),
		TokenCache: tokencache.New(tokencache.DefaultMaxBytes, nil), Replay: st})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rt.Stop)
	for _, u := range rt.Upstreams() {
		u.UseTransport(canned{})
	}
	return gateway.New(rt, nil, observe.NewMetrics(), log).Handler(cfg.Listeners[0])
}

// requests returns a function that prepares the next batch of requests:
// bearer requests, or DPoP requests each with a new proof by a key of alg.
func requests(b *testing.B, is *testissuer.Issuer, alg string) func() []*http.Request {
	claims := is.Claims("api", "bench-client", "", time.Now(), time.Hour)
	if alg == "" {
		tok := is.SignWith(is.KidFor("ES256"), claims, nil)
		return func() []*http.Request {
			out := make([]*http.Request, batch)
			for i := range out {
				out[i] = httptest.NewRequest("GET", "http://127.0.0.1/bearer", nil)
				out[i].Header.Set("Authorization", "Bearer "+tok)
			}
			return out
		}
	}
	key, err := testissuer.NewDPoPKey(alg)
	if err != nil {
		b.Fatal(err)
	}
	tok := is.SignWith(is.KidFor("ES256"), key.Bind(claims), nil)
	return func() []*http.Request {
		out := make([]*http.Request, batch)
		for i := range out {
			out[i] = httptest.NewRequest("GET", "http://127.0.0.1/dpop", nil)
			out[i].Header.Set("Authorization", "DPoP "+tok)
			out[i].Header.Set("DPoP", key.Proof("GET", "http://127.0.0.1/dpop", tok, time.Now()))
		}
		return out
	}
}

type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header { return d.h }
func (d *discard) Write(p []byte) (int, error) {
	if d.status == 0 {
		d.status = 200
	}
	return len(p), nil
}
func (d *discard) WriteHeader(code int) { d.status = code }

func serve(b *testing.B, h http.Handler, r *http.Request) {
	w := &discard{h: http.Header{}}
	h.ServeHTTP(w, r)
	if w.status != 200 {
		b.Fatalf("status %d: %s", w.status, w.h.Get("Www-Authenticate"))
	}
}
