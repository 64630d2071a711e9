// Package gatewaytest owns running a real gateway in a test: a pki CA and
// server certificate in a temp dir, an echo upstream that reports what it
// received, and the production server (listeners, TLS, chains, access log)
// started from a YAML configuration on a free loopback port. Tests talk to
// it over real TLS and assert what a client and the upstream see.
package gatewaytest

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/server"
)

// Env is what a gateway under test is built from.
type Env struct {
	CA *pki.CA
	// Dir is the test's temp dir.
	Dir string
	// CertFile, KeyFile are the gateway's server certificate; CAFile is
	// the CA's PEM.
	CertFile, KeyFile, CAFile string
	// Upstream is the echo upstream's URL.
	Upstream string
	// AccessLog is the access log file path.
	AccessLog string
}

// Echo is what the echo upstream saw of one request.
type Echo struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Headers map[string][]string `json:"headers"`
}

// NewEnv makes a CA, a server certificate for 127.0.0.1 and an echo
// upstream, all cleaned up with t.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	ca, err := pki.NewCA("Gateway Test CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{CA: ca, Dir: t.TempDir()}
	e.CAFile = filepath.Join(e.Dir, "ca.crt")
	if err := ca.WriteFile(e.CAFile); err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "gateway", Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.CertFile, e.KeyFile, err = leaf.WriteFiles(e.Dir, "gateway"); err != nil {
		t.Fatal(err)
	}
	e.AccessLog = filepath.Join(e.Dir, "access.log")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Echo{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Headers: r.Header})
	}))
	t.Cleanup(up.Close)
	e.Upstream = up.URL
	return e
}

// Base returns the listener, upstream and logging sections of a config:
// one TLS listener "public" on a free port with client_auth (none,
// request, optional or require; the last two verified against the env's
// CA), the echo upstream "echo", ops disabled, the access log in the env's
// dir.
func (e *Env) Base(clientAuth string) string {
	caLine := ""
	if clientAuth == "optional" || clientAuth == "require" {
		caLine = "\n      client_ca_file: " + e.CAFile
	}
	return `listeners:
  - name: public
    address: "127.0.0.1:0"
    tls:
      cert_file: ` + e.CertFile + `
      key_file: ` + e.KeyFile + `
      client_auth: ` + clientAuth + caLine + `
ops:
  disabled: true
upstreams:
  - name: echo
    targets: ["` + e.Upstream + `"]
logging:
  level: error
  access:
    output: ` + e.AccessLog + `
    flush_interval: 1s
`
}

// Gateway is a running gateway.
type Gateway struct {
	Server *server.Server
	// URL is https://127.0.0.1:port.
	URL  string
	once sync.Once
}

// Parse parses and validates yaml (failing the test on problems).
func Parse(t testing.TB, yaml string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config:\n%v\n--- yaml:\n%s", err, yaml)
	}
	return cfg
}

// Start builds and starts a gateway from yaml with deps; it is shut down
// with t.
func (e *Env) Start(t testing.TB, yaml string, deps gateway.Deps) *Gateway {
	t.Helper()
	cfg := Parse(t, yaml)
	srv, err := server.New(cfg, server.Options{Log: slog.New(slog.DiscardHandler), Deps: deps})
	if err != nil {
		t.Fatalf("building gateway: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	g := &Gateway{Server: srv, URL: "https://" + srv.Addr("public")}
	t.Cleanup(g.Stop)
	return g
}

// Stop shuts the gateway down (flushing the access log). It may be called
// more than once.
func (g *Gateway) Stop() {
	g.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Server.Shutdown(ctx)
	})
}

// Client returns an HTTP client trusting the env's CA, presenting certs.
func (e *Env) Client(certs ...tls.Certificate) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: e.CA.Pool(), Certificates: certs, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}
}

// Response is what a client saw.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Problem decodes a problem+json body.
func (r Response) Problem(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, r.Body)
	}
	return m
}

// Echo decodes the echo upstream's answer.
func (r Response) Echo(t testing.TB) Echo {
	t.Helper()
	var e Echo
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("body is not an echo: %v: %s", err, r.Body)
	}
	return e
}

// Do sends req with c and reads the whole response.
func Do(t testing.TB, c *http.Client, req *http.Request) Response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: []byte(b.String())}
}

// ReadAccessLog returns the access log's content so far (after the gateway
// flushed it; call after Shutdown for completeness).
func (e *Env) ReadAccessLog(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(e.AccessLog)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}
