package gateway

import (
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/secmon"
	"github.com/portcullis/portcullis/internal/testissuer"
	"github.com/portcullis/portcullis/internal/tokencache"
)

// BenchmarkSecurityMonitor is the cost per request of the security
// monitor on the JWT + rate limit + access log path: without a monitor,
// with one that security.enabled: false turns off, with the default
// detectors and the security log only, and with every sink on (log file,
// syslog over TLS to a local collector, a signed webhook to a local
// receiver, everything shipped at severity info). "accepted" requests carry
// a valid token (the monitor only observes them, for the detectors over
// behaviour); "refused" ones none, so each is an auth_failure event that
// goes to every sink. The monitor's own goroutines share the CPUs with the
// timed loop, so their work shows in ns/op too.
func BenchmarkSecurityMonitor(b *testing.B) {
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer is.Close()
	dir := b.TempDir()
	jwksFile := dir + "/jwks.json"
	if err := os.WriteFile(jwksFile, is.JWKS(), 0o600); err != nil {
		b.Fatal(err)
	}
	claims := is.Claims("bench-api", "bench-user", "", time.Now(), time.Hour)
	claims["iss"] = "https://issuer.bench.local"
	token := is.Sign(claims)
	// Brute-force blocking off: refused requests must stay 401s, not turn
	// into cheaper 429s halfway through.
	doc := strings.Replace(benchJWT(jwksFile), "rate_limits:\n  policies:", "rate_limits:\n  brute_force: {enabled: false}\n  policies:", 1)
	collector, caFile := benchCollectors(b, dir)

	for _, mode := range []string{"none", "off", "log", "all-sinks"} {
		for _, traffic := range []string{"accepted", "refused"} {
			b.Run(mode+"/"+traffic, func(b *testing.B) {
				cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
				if err != nil {
					b.Fatal(err)
				}
				sec := &cfg.Security
				sec.Log.Output = filepath.Join(b.TempDir(), "security.log")
				switch mode {
				case "off":
					off := false
					sec.Enabled = &off
				case "all-sinks":
					sec.Log.MinSeverity = "info"
					sec.Syslog = config.WithDefaults(config.Syslog{Enabled: true, Address: collector.syslog,
						TLS: config.SyslogTLS{CAFile: caFile}, MinSeverity: "info"})
					sec.Webhooks = []config.Webhook{config.WithDefaults(config.Webhook{Name: "soc", URL: collector.webhook,
						CAFile: caFile, Secret: strings.Repeat("s", 32), Types: config.SecurityEventTypes})}
				}
				var mon *secmon.Monitor
				if mode != "none" {
					if mon, err = secmon.New(secmon.Options{Config: *sec}); err != nil {
						b.Fatal(err)
					}
				}
				h := benchSecurityGateway(b, cfg, mon)
				req := httptest.NewRequest("GET", "http://127.0.0.1/api/echo", nil)
				want := http.StatusUnauthorized
				if traffic == "accepted" {
					req.Header.Set("Authorization", "Bearer "+token)
					want = http.StatusOK
				}
				var w *discardWriter
				serve := func() {
					w = &discardWriter{h: http.Header{}}
					h.ServeHTTP(w, req)
				}
				serve()
				if w.status != want {
					b.Fatalf("status %d before timing, want %d", w.status, want)
				}
				b.ReportAllocs()
				cpu0 := processCPU(b)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					serve()
				}
				b.StopTimer()
				defer func() {
					// CPU time of the whole process (the request loop and
					// the monitor's goroutines, up to its drain on Close)
					// per request: steadier than ns/op on a shared machine.
					b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
				}()
				if w.status != want {
					b.Fatalf("status %d after %d requests, want %d", w.status, b.N, want)
				}
				if mon == nil {
					return
				}
				// The events were written, not lost: closing flushes the log.
				_ = mon.Close()
				got, _ := os.ReadFile(sec.Log.Output)
				if n := strings.Count(string(got), `"type":"auth_failure"`); mode != "off" && traffic == "refused" && n == 0 {
					b.Fatalf("no auth_failure in the security log after %d refused requests", b.N)
				} else if mode == "off" && len(got) > 0 {
					b.Fatalf("monitoring off wrote %s", got)
				}
			})
		}
	}
}

func benchSecurityGateway(b *testing.B, cfg *config.Config, mon *secmon.Monitor) http.Handler {
	b.Helper()
	log := slog.New(slog.DiscardHandler)
	deps := Deps{Log: log, JWKS: jwks.NewRegistry(log, nil), TokenCache: tokencache.New(tokencache.DefaultMaxBytes, nil)}
	if mon != nil {
		deps.Security = mon
	}
	rt, err := Build(cfg, deps)
	if err != nil {
		b.Fatal(err)
	}
	for _, u := range rt.Upstreams() {
		u.UseTransport(cannedUpstream{})
	}
	cfg.Logging.Access.Output = b.TempDir() + "/access.log"
	al, err := observe.NewAccessLog(cfg.Logging.Access)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { al.Close() })
	return New(rt, al, observe.NewMetrics(), log).Handler(cfg.Listeners[0])
}

type benchCollector struct{ syslog, webhook string }

// benchCollectors starts a TLS syslog collector and a TLS webhook receiver
// on loopback that read and discard everything, and writes their CA.
func benchCollectors(b *testing.B, dir string) (benchCollector, string) {
	b.Helper()
	ca, err := pki.NewCA("bench CA", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := ca.WriteFile(caFile); err != nil {
		b.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "collector", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		b.Fatal(err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) { defer c.Close(); _, _ = io.Copy(io.Discard, c) }(c)
		}
	}()
	hook := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	hook.TLS = tc
	hook.StartTLS()
	b.Cleanup(hook.Close)
	return benchCollector{syslog: ln.Addr().String(), webhook: hook.URL}, caFile
}
