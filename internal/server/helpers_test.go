package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/server"
)

// gatewayHead is the start of most test configs: one TLS listener, the ops
// listener on a free port, and the upstream "api" at {{UP}}.
const gatewayHead = `
listeners:
  - name: public
    address: "127.0.0.1:0"
    tls:
      cert_file: "{{CERT}}"
      key_file: "{{KEY}}"
ops:
  address: "127.0.0.1:0"
upstreams:
  - name: api
    targets: ["{{UP}}"]
`

// gw is a running gateway for one test.
type gw struct {
	t       *testing.T
	srv     *server.Server
	dir     string
	ca      *pki.CA
	base    string
	client  *http.Client
	access  string
	cfgPath string
}

// testPKI makes a CA and a server certificate for 127.0.0.1 in dir.
func testPKI(t *testing.T, dir string) (*pki.CA, string, string) {
	t.Helper()
	ca, err := pki.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "gateway", Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := leaf.WriteFiles(dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	return ca, cert, key
}

// startGateway writes yamlDoc (with {{CERT}}, {{KEY}}, {{DIR}} replaced)
// to a file, loads it and starts a server on it.
func startGateway(t *testing.T, yamlDoc string, vars map[string]string) *gw {
	t.Helper()
	return startGatewayWith(t, yamlDoc, vars, server.Options{})
}

// startGatewayWith is startGateway with server options (ConfigPath and Log
// are set here).
func startGatewayWith(t *testing.T, yamlDoc string, vars map[string]string, opts server.Options) *gw {
	t.Helper()
	dir := t.TempDir()
	ca, cert, key := testPKI(t, dir)
	g := &gw{t: t, dir: dir, ca: ca, access: filepath.Join(dir, "access.log"), cfgPath: filepath.Join(dir, "portcullis.yaml")}
	doc := expand(yamlDoc, vars, map[string]string{"CERT": cert, "KEY": key, "DIR": dir, "ACCESS": g.access})
	if err := os.WriteFile(g.cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(g.cfgPath)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, doc)
	}
	opts.ConfigPath, opts.Log = g.cfgPath, slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(cfg, opts)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	g.srv = srv
	g.base = "https://" + srv.Addr("public")
	g.client = &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true},
		Timeout:   10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	t.Cleanup(g.client.CloseIdleConnections)
	return g
}

func expand(doc string, maps ...map[string]string) string {
	for _, m := range maps {
		for k, v := range m {
			doc = strings.ReplaceAll(doc, "{{"+k+"}}", v)
		}
	}
	return doc
}

// do sends a request and returns the response with its body read.
func (g *gw) do(req *http.Request) (*http.Response, string) {
	g.t.Helper()
	resp, err := g.client.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (g *gw) get(path string, hdr ...string) (*http.Response, string) {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.base+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return g.do(req)
}

// accessLines flushes and returns the access log as decoded JSON lines.
func (g *gw) accessLines() []map[string]any {
	g.t.Helper()
	var out []map[string]any
	deadline := time.Now().Add(3 * time.Second)
	for {
		f, err := os.Open(g.access)
		if err == nil {
			sc := bufio.NewScanner(f)
			out = out[:0]
			for sc.Scan() {
				var m map[string]any
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					g.t.Fatalf("access log line is not JSON: %q", sc.Text())
				}
				out = append(out, m)
			}
			f.Close()
		}
		if len(out) > 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// upstream is a real loopback backend recording what it received.
type upstream struct {
	*http.Server
	URL   string
	hits  atomic.Int64
	mu    sync.Mutex
	last  *http.Request
	delay atomic.Int64 // nanoseconds to wait before answering
}

func newUpstream(t *testing.T, h http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Server", "backend/1.2.3")
			w.Header().Set("X-Powered-By", "PHP/5.1")
			_, _ = io.WriteString(w, `{"ok":true,"path":"`+r.URL.Path+`"}`)
		}
	}
	u.Server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		u.mu.Lock()
		u.last = r.Clone(context.Background())
		u.mu.Unlock()
		if d := time.Duration(u.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		h(w, r)
	}), ReadHeaderTimeout: 5 * time.Second}
	ln := listen(t)
	u.URL = "http://" + ln.Addr().String()
	go func() { _ = u.Serve(ln) }()
	t.Cleanup(func() { u.Close() })
	return u
}

func (u *upstream) lastRequest() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}
