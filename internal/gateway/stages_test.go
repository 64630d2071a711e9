package gateway

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/httpsig"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/validate"
)

// stagesConfig has one route with every stage the registry knows today.
const stagesConfig = `
listeners:
  - address: "127.0.0.1:0"
    insecure: true
upstreams:
  - name: up
    targets: ["%s"]
authenticators:
  - name: keys
    introspection: {endpoint: "https://as.example/introspect", client_id: gw, client_secret: s}
routes:
  - name: everything
    path: /everything
    upstream: up
    ip_deny: ["203.0.113.0/24"]
    rate_limits: [p]
    auth:
      authenticators: [keys]
      require: {scopes: {all_of: [a]}}
    waf: {}
  - name: open
    prefix: /
    upstream: up
    auth: none
rate_limits:
  policies:
    - {name: p, key: [client_ip], rate: {limit: 100, period: 1s}}
`

// integrityRoute adds to stagesConfig a route with the payment-integrity
// stages (idempotency, signatures) and the gateway's signing key.
const integrityRoute = `
  - name: payments
    path: /payments
    upstream: up
    rate_limits: [p]
    auth: {authenticators: [keys]}
    idempotency: {required: true}
    signatures:
      verify: {}
      sign_upstream: true
      sign_responses: true
message_signing:
  key_file: "%s"
  key_id: gw-1
keys:
  store: {path: keys.db}
`

// noKeys is a signing-key resolver that knows no key.
type noKeys struct{}

func (noKeys) SigningKey(context.Context, keys.Signer, string) (httpsig.Key, error) {
	return httpsig.Key{}, keys.ErrNoSigningKey
}

// signingKeyFile writes a PKCS#8 Ed25519 key for message_signing.
func signingKeyFile(t *testing.T) string {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "gw.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The registry is the one place stages come from, and it says the order
// they run in.
func TestStageOrder(t *testing.T) {
	doc := strings.Replace(fmt.Sprintf(stagesConfig, "http://127.0.0.1:1"), "rate_limits:\n  policies:",
		strings.TrimPrefix(fmt.Sprintf(integrityRoute, signingKeyFile(t)), "\n")+"rate_limits:\n  policies:", 1)
	cfg := parseDoc(t, doc)
	rt, err := Build(cfg, Deps{Log: slog.New(slog.DiscardHandler), SigningKeys: noKeys{}})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Stop()
	tests := []struct {
		route string
		want  string
	}{
		{"everything", "ip_filter:admit brute_force:admit body_limit:admit authenticate:authenticate authorise:authorise rate_limit:admission body:body json_limits:validate waf:validate"},
		{"payments", "brute_force:admit body_limit:admit authenticate:authenticate " +
			"idempotency_lookup:authorise rate_limit:admission body:body json_limits:validate signature_verify:validate " +
			"idempotency:forward sign_upstream:forward sign_response:forward"},
		{"open", "brute_force:admit body_limit:admit body:body json_limits:validate"},
	}
	for _, tt := range tests {
		t.Run(tt.route, func(t *testing.T) {
			var got []string
			for _, s := range routeNamed(t, rt, tt.route).stages {
				got = append(got, s.Name()+":"+s.Phase().String())
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("stages:\n got %s\nwant %s", strings.Join(got, " "), tt.want)
			}
		})
	}
}

// A stage is wired only through the registry: outside internal/gateway
// no code composes a request path, and inside it only chain.go does.
func TestStagesOnlyThroughTheRegistry(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			var name string
			switch fn := call.Fun.(type) {
			case *ast.SelectorExpr:
				if id, ok := fn.X.(*ast.Ident); ok {
					name = id.Name + "." + fn.Sel.Name
				}
			case *ast.Ident:
				name = fn.Name
			}
			composes := name == "pipeline.Compose" || (rel == "internal/pipeline/stage.go" && name == "Compose")
			if composes && rel != "internal/gateway/chain.go" && rel != "internal/pipeline/stage.go" {
				t.Errorf("%s: a request path is composed outside internal/gateway/chain.go; register the stage in internal/gateway/stages.go", fset.Position(call.Pos()))
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testStage is a stage a test puts in the registry for one test.
type testStage struct {
	name     string
	phase    pipeline.Phase
	handle   func(next pipeline.Handler) pipeline.Handler
	respond  func(resp *http.Response) error
	needBody bool
}

func (s *testStage) Name() string                          { return s.name }
func (s *testStage) Phase() pipeline.Phase                 { return s.phase }
func (s *testStage) NeedsBody() bool                       { return s.needBody }
func (s *testStage) ResponsePhase() pipeline.ResponsePhase { return pipeline.MaskResponse }
func (s *testStage) Handle(next pipeline.Handler) pipeline.Handler {
	if s.handle == nil {
		return next
	}
	return s.handle(next)
}
func (s *testStage) OnResponse(resp *http.Response, _ *http.Request) error {
	if s.respond == nil {
		return nil
	}
	return s.respond(resp)
}

var (
	_ pipeline.ResponseStage = (*testStage)(nil)
	_ pipeline.BodyConsumer  = (*testStage)(nil)
)

// register puts s in the registry for the rest of the test.
func register(t *testing.T, s *testStage) {
	t.Helper()
	saved := stages
	stages = append(append([]stageBuilder(nil), stages...), func(*routeBuild) (pipeline.Stage, error) { return s, nil })
	t.Cleanup(func() { stages = saved })
}

// tlsGateway serves cfg over real TLS (HTTP/1.1 and HTTP/2) with the
// process's access log and the one problem writer; it returns a client for
// each protocol.
func tlsGateway(t *testing.T, cfg *config.Config, deps Deps) (*httptest.Server, map[string]*http.Client, *observe.AccessLog, string) {
	t.Helper()
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	rt, err := Build(cfg, deps)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	rt.Start()
	logFile := filepath.Join(t.TempDir(), "access.log")
	ac := cfg.Logging.Access
	ac.Output, ac.FlushInterval = logFile, config.Duration(time.Millisecond)
	access, err := observe.NewAccessLog(ac)
	if err != nil {
		t.Fatal(err)
	}
	gw := New(rt, access, nil, deps.Log)
	srv := httptest.NewUnstartedServer(gw.Handler(cfg.Listeners[0]))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		gw.Runtime().Stop()
		_ = access.Close()
	})
	h1 := srv.Client().Transport.(*http.Transport).Clone()
	h1.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	h1.ForceAttemptHTTP2 = false
	h1.TLSClientConfig = h1.TLSClientConfig.Clone()
	h1.TLSClientConfig.NextProtos = []string{"http/1.1"}
	return srv, map[string]*http.Client{"HTTP/1.1": {Transport: h1, Timeout: 10 * time.Second}, "HTTP/2": srv.Client()}, access, logFile
}

// A panic in a stage is a 500 problem for that request, logged with its
// request id; the process and the next request are unaffected.
func TestPanicInAStage(t *testing.T) {
	up := upstreamServer(t)
	register(t, &testStage{name: "boom", phase: pipeline.Validate, handle: func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if r.URL.Query().Get("panic") != "" {
				panic("a stage broke")
			}
			return next.ServeHTTP(w, r)
		})
	}})
	srv, clients, _, _ := tlsGateway(t, parseDoc(t, fmt.Sprintf(stagesConfig, up.URL)), Deps{})
	for proto, c := range clients {
		t.Run(proto, func(t *testing.T) {
			got := fetchWith(t, c, srv.URL+"/open?panic=1")
			want := `{"type":"https://portcullis.dev/problems/internal","title":"Internal Server Error","status":500,"detail":"The gateway could not complete the request.","request_id":"` + got.header.Get("X-Request-Id") + "\"}\n"
			if got.status != 500 || got.header.Get("Content-Type") != "application/problem+json" || got.body != want {
				t.Fatalf("panic: %d %q %q", got.status, got.header.Get("Content-Type"), got.body)
			}
			if got := fetchWith(t, c, srv.URL+"/open"); got.status != 200 || got.body != "from upstream" {
				t.Fatalf("after the panic: %d %q", got.status, got.body)
			}
		})
	}
}

// A response stage sees the upstream's answer before the client does and
// may refuse it: the client then gets the stage's problem from the one
// problem writer, never the upstream's body.
func TestResponseStage(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "secret "+r.URL.Path)
	}))
	t.Cleanup(up.Close)
	register(t, &testStage{name: "inspect", phase: pipeline.Validate, respond: func(resp *http.Response) error {
		if strings.HasSuffix(resp.Request.URL.Path, "/refuse") {
			return problem.New(http.StatusForbidden, "response-refused", "Forbidden", "The response was refused.")
		}
		resp.Header.Set("X-Inspected", "yes")
		return nil
	}})
	srv, clients, _, _ := tlsGateway(t, parseDoc(t, fmt.Sprintf(stagesConfig, up.URL)), Deps{})
	for proto, c := range clients {
		t.Run(proto, func(t *testing.T) {
			got := fetchWith(t, c, srv.URL+"/ok")
			if got.status != 200 || got.header.Get("X-Inspected") != "yes" || got.body != "secret /ok" {
				t.Fatalf("passed: %d %q %q", got.status, got.header.Get("X-Inspected"), got.body)
			}
			got = fetchWith(t, c, srv.URL+"/refuse")
			want := `{"type":"https://portcullis.dev/problems/response-refused","title":"Forbidden","status":403,"detail":"The response was refused.","request_id":"` + got.header.Get("X-Request-Id") + "\"}\n"
			if got.status != 403 || got.body != want || strings.Contains(got.body, "secret") {
				t.Fatalf("refused: %d %q", got.status, got.body)
			}
		})
	}
}

// The body is read once, and the memory it takes stays counted until the
// request has finished: a slow upstream holds it, and it is given back
// when the exchange ends. A stage that needs the body sees the bytes the
// upstream receives.
func TestBodyBudgetHeldUntilTheRequestEnds(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan string, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		arrived <- string(b)
		<-release
		_, _ = io.WriteString(w, "done")
	}))
	t.Cleanup(up.Close)
	var seen atomic.Value
	register(t, &testStage{name: "reader", phase: pipeline.Validate, needBody: true, handle: func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			seen.Store(string(bodyOf(r)))
			return next.ServeHTTP(w, r)
		})
	}})
	budget := validate.NewBudget(1 << 20)
	srv, clients, _, _ := tlsGateway(t, parseDoc(t, fmt.Sprintf(stagesConfig, up.URL)), Deps{Bodies: budget})
	for proto, c := range clients {
		t.Run(proto, func(t *testing.T) {
			const body = `{"amount":"10.00"}`
			done := make(chan seen2, 1)
			go func() {
				// A body of unknown length: chunked on HTTP/1.1, no
				// content-length on HTTP/2.
				req, _ := http.NewRequest("POST", srv.URL+"/open", io.NopCloser(strings.NewReader(body)))
				req.ContentLength = -1
				resp, err := c.Do(req)
				if err != nil {
					done <- seen2{err: err}
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				done <- seen2{status: resp.StatusCode, body: string(b)}
			}()
			select {
			case got := <-arrived:
				if got != body {
					t.Fatalf("upstream got %q", got)
				}
			case res := <-done:
				t.Fatalf("the request ended before reaching the upstream: %+v", res)
			}
			if n := budget.InUse(); n != int64(len(body)) {
				t.Fatalf("budget in use while the upstream holds the request: %d, want %d", n, len(body))
			}
			if s, _ := seen.Load().(string); s != body {
				t.Fatalf("the stage saw %q", s)
			}
			release <- struct{}{}
			res := <-done
			if res.err != nil || res.status != 200 || res.body != "done" {
				t.Fatalf("response: %+v", res)
			}
			for i := 0; i < 200 && budget.InUse() != 0; i++ {
				time.Sleep(5 * time.Millisecond)
			}
			if n := budget.InUse(); n != 0 {
				t.Fatalf("budget in use after the request: %d", n)
			}
		})
	}
}

type seen2 struct {
	status int
	body   string
	err    error
}

// bodyOf is what the body stage read for the request (nil if nothing).
func bodyOf(r *http.Request) []byte {
	if info := reqinfo.From(r.Context()); info.BodyRead {
		return info.Body
	}
	return nil
}

// A streaming response (server-sent events) reaches the client event by
// event, not once the upstream has finished.
func TestStreamingResponse(t *testing.T) {
	next := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-time.After(5 * time.Second):
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	srv, clients, _, _ := tlsGateway(t, parseDoc(t, fmt.Sprintf(stagesConfig, up.URL)), Deps{})
	for proto, c := range clients {
		t.Run(proto, func(t *testing.T) {
			resp, err := c.Get(srv.URL + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			for i := 1; i <= 3; i++ {
				line, err := br.ReadString('\n')
				if err != nil || line != fmt.Sprintf("data: %d\n", i) {
					t.Fatalf("event %d: %q %v", i, line, err)
				}
				_, _ = br.ReadString('\n')
				next <- struct{}{} // the upstream sends the next event only now
			}
		})
	}
}

// A client that goes away in the middle of its body costs nothing
// upstream: the upstream is never called, the gateway goes on serving, and
// the access log says 499.
func TestClientAbortMidBody(t *testing.T) {
	var hits atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "from upstream")
	}))
	t.Cleanup(up.Close)
	srv, clients, access, logFile := tlsGateway(t, parseDoc(t, fmt.Sprintf(stagesConfig, up.URL)), Deps{})
	conn, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(conn, "POST /open HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	time.Sleep(50 * time.Millisecond) // the gateway is reading the body
	conn.Close()
	if got := fetchWith(t, clients["HTTP/2"], srv.URL+"/open"); got.status != 200 {
		t.Fatalf("after the abort: %d", got.status)
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("upstream called %d times, want 1 (the aborted request never reaches it)", n)
	}
	_ = access.Close()
	var line map[string]any
	logged, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(logged), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["method"] == "POST" {
			line = m
		}
	}
	// 499, as the forwarder logs a client that left mid-body: nobody
	// receives the 400 it would otherwise be.
	if line == nil || line["status"] != float64(499) || !strings.HasPrefix(fmt.Sprint(line["error"]), "client closed the request: ") {
		t.Fatalf("access log line of the aborted request: %v", line)
	}
}

func routeNamed(t *testing.T, rt *Runtime, name string) *Route {
	t.Helper()
	for _, r := range rt.routes {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no route %s", name)
	return nil
}

func parseDoc(t *testing.T, doc string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func fetchWith(t *testing.T, c *http.Client, url string) seen {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return seen{resp.StatusCode, resp.Header, string(b)}
}
