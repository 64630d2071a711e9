package ratelimit

import (
	"encoding/json"
	"fmt"
	"github.com/portcullis/portcullis/internal/testenv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// base is a fixed instant in the future: the Redis store expires quota
// keys at the window's end, so test windows must not lie in the real past.
var base = time.Date(2040, 3, 14, 12, 0, 0, 0, time.UTC)

// parseConfig parses a config whose rate_limits and route extras are given
// as YAML fragments, and fails the test on any error.
func parseConfig(t *testing.T, rateLimits, routeExtra string) *config.Config {
	t.Helper()
	doc := `
listeners:
  - address: "127.0.0.1:0"
    insecure: true
upstreams:
  - name: up
    targets: ["http://127.0.0.1:1"]
routes:
  - name: r1
    path: /r1
    upstream: up
    auth: none
` + indent(routeExtra, "    ") + `
  - name: payments
    path: /payments
    upstream: up
    auth: none
rate_limits:
` + indent(rateLimits, "  ")
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, doc)
	}
	return cfg
}

func indent(s, pad string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = pad + l
		}
	}
	return strings.Join(lines, "\n")
}

// harness serves a route's limiter over a real loopback listener, the way
// the gateway does: a reqinfo.Info per request, errors written by package
// problem. Test-only headers stand in for what earlier steps establish:
// X-Test-IP (the client IP), X-Test-Consumer / -Method / -Credential /
// -Tier / -Claims (the principal).
type harness struct {
	srv     *httptest.Server
	release chan struct{} // requests with X-Test-Hold wait on it in the upstream
	entered chan struct{} // signalled when such a request has arrived
}

func newHarness(t *testing.T, cfg *config.Config, stores *Stores, route string) *harness {
	t.Helper()
	l := New(cfg.RateLimits, stores)
	var rc config.Route
	for _, r := range cfg.Routes {
		if r.Name == route {
			rc = r
		}
	}
	h := &harness{}
	upstream := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.Header.Get("X-Test-Hold") != "" {
			h.entered <- struct{}{}
			<-h.release
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
		return nil
	})
	var chain pipeline.Handler = upstream
	if st := l.Route(rc); st != nil {
		chain = st.Handle(upstream)
	}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &reqinfo.Info{ID: "req-1", Route: route, ClientIP: netip.MustParseAddr("192.0.2.1")}
		if ip := r.Header.Get("X-Test-IP"); ip != "" {
			info.ClientIP = netip.MustParseAddr(ip)
		}
		if c := r.Header.Get("X-Test-Consumer"); c != "" {
			p := &principal.Principal{ConsumerID: c, Method: principal.Method(r.Header.Get("X-Test-Method")),
				CredentialID: r.Header.Get("X-Test-Credential"), Tier: r.Header.Get("X-Test-Tier")}
			if cl := r.Header.Get("X-Test-Claims"); cl != "" {
				if err := json.Unmarshal([]byte(cl), &p.Claims); err != nil {
					t.Errorf("claims: %v", err)
				}
			}
			info.Principal = p
		}
		r = r.WithContext(reqinfo.With(r.Context(), info))
		if err := chain.ServeHTTP(w, r); err != nil {
			problem.Write(w, r, err)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// response is what a client saw.
type response struct {
	status int
	header http.Header
	body   string
}

func (h *harness) do(t *testing.T, method, path string, hdr map[string]string) response {
	t.Helper()
	r, err := h.send(method, path, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is do without the test: safe to call from another goroutine (a
// t.Fatal there would not stop the test, which would then hang).
func (h *harness) send(method, path string, hdr map[string]string) (response, error) {
	req, err := http.NewRequest(method, h.srv.URL+path, nil)
	if err != nil {
		return response{}, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}, nil
}

func memoryStores(t *testing.T, clock *testenv.Clock) *Stores {
	t.Helper()
	s, err := NewStores(config.WithDefaults(config.RateLimitStore{Type: "memory", MaxKeys: 10000}), Options{Clock: clock.Now, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// metricValue reads a single counter or gauge.
func metricValue(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatal("not a counter or gauge")
	return 0
}
