package openapi_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/server"
	"github.com/portcullis/portcullis/internal/testenv"
)

// upstream records what reached it; respond, when set, answers instead of
// the default 200/201 JSON.
type upstream struct {
	url     string
	hits    atomic.Int64
	mu      sync.Mutex
	body    string
	respond func(w http.ResponseWriter, r *http.Request)
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.hits.Add(1)
		u.mu.Lock()
		u.body = string(b)
		respond := u.respond
		u.mu.Unlock()
		if respond != nil {
			respond(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = io.WriteString(w, `{"amount":10,"currency":"EUR","execute_at":"2026-01-02T03:04:05Z"}`)
	}))
	t.Cleanup(srv.Close)
	u.url = srv.URL
	return u
}

func (u *upstream) lastBody() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.body
}

// running is a gateway under test with its log.
type running struct {
	srv *server.Server
	url string
	log *testenv.SyncBuffer
}

// gatewayConfig is a gateway configuration with one TLS listener (the env's
// certificate), the upstream "api" at up, and routes.
func gatewayConfig(env *gatewaytest.Env, up, routes string) string {
	return `listeners:
  - name: public
    address: "127.0.0.1:0"
    tls:
      cert_file: ` + env.CertFile + `
      key_file: ` + env.KeyFile + `
ops:
  disabled: true
upstreams:
  - name: api
    targets: ["` + up + `"]
logging:
  level: info
  access:
    output: ` + env.AccessLog + `
routes:
` + routes
}

// start runs the production server on yaml, its log in a buffer.
func start(t *testing.T, yaml string) *running {
	t.Helper()
	return startWith(t, gatewaytest.Parse(t, yaml), "")
}

// startFile runs the production server on the configuration file path
// (reloads read it again).
func startFile(t *testing.T, path string) *running {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return startWith(t, cfg, path)
}

func startWith(t *testing.T, cfg *config.Config, path string) *running {
	t.Helper()
	var buf testenv.SyncBuffer
	srv, err := server.New(cfg, server.Options{ConfigPath: path, Log: slog.New(slog.NewJSONHandler(&buf, nil))})
	if err != nil {
		t.Fatalf("building gateway: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &running{srv: srv, url: "https://" + srv.Addr("public"), log: &buf}
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clients speak HTTP/1.1 and HTTP/2 to the gateway.
func clients(env *gatewaytest.Env) map[string]*http.Client {
	h1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: env.CA.Pool(), NextProtos: []string{"http/1.1"}}}
	h2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: env.CA.Pool()}, ForceAttemptHTTP2: true}
	return map[string]*http.Client{
		"HTTP/1.1": {Transport: h1, Timeout: 10 * time.Second},
		"HTTP/2":   {Transport: h2, Timeout: 10 * time.Second},
	}
}

// reply is what a client saw.
type reply struct {
	status int
	header http.Header
	body   string
}

// send makes a request over c, which must speak proto; headers with
// several values are written one per line.
func send(t *testing.T, c *http.Client, proto, method, url string, headers map[string]string, body string) reply {
	t.Helper()
	r, err := do(c, proto, method, url, headers, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// do is send for goroutines other than the test's.
func do(c *http.Client, proto, method, url string, headers map[string]string, body string) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return reply{}, err
	}
	for k, v := range headers {
		req.Header[k] = strings.Split(v, "\n")
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Proto != proto && !(proto == "HTTP/2" && resp.Proto == "HTTP/2.0") {
		return reply{}, fmt.Errorf("spoke %s, want %s", resp.Proto, proto)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}, nil
}

// problemBody is the exact problem+json body the gateway writes.
func problemBody(slug, title string, status int, detail, errs, requestID string) string {
	if errs == "" {
		return `{"type":"https://portcullis.dev/problems/` + slug + `","title":"` + title + `","status":` + strconv.Itoa(status) +
			`,"detail":"` + detail + `","request_id":"` + requestID + `"}` + "\n"
	}
	b := `{"detail":"` + detail + `",`
	if errs != "" {
		b += `"errors":` + errs + `,`
	}
	return b + `"request_id":"` + requestID + `","status":` + strconv.Itoa(status) + `,"title":"` + title + `","type":"https://portcullis.dev/problems/` + slug + `"}` + "\n"
}

// counter is the value of a counter of the gateway's registry with these
// labels (0 when absent).
func counter(t *testing.T, g *running, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := g.srv.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if matches(m, labels) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func matches(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, l := range m.GetLabel() {
		if v, ok := labels[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(labels)
}

// check builds yaml the way `portcullis validate` does.
func check(t *testing.T, yaml string) error {
	t.Helper()
	return server.CheckConfig(gatewaytest.Parse(t, yaml), server.Options{})
}
