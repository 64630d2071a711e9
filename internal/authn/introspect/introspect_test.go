package introspect_test

import (
	"crypto/tls"
	"encoding/json"
	"github.com/portcullis/portcullis/internal/testenv"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/testissuer"
	"github.com/portcullis/portcullis/internal/tokencache"
)

const (
	chInvalid = `Bearer realm="portcullis", error="invalid_token", error_description="The access token is invalid."`
	chExpired = `Bearer realm="portcullis", error="invalid_token", error_description="The access token has expired."`
)

// authServer is a real RFC 7662 endpoint over TLS that knows a few tokens.
type authServer struct {
	srv    *httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	tokens map[string]map[string]any
	status int           // forced status
	gate   chan struct{} // when set, requests wait on it (a slow server)
	method string        // client auth method expected
	sawID  string
}

func newAuthServer(t *testing.T, env *gatewaytest.Env, method string, needClientCert bool) *authServer {
	t.Helper()
	as := &authServer{tokens: map[string]map[string]any{}, method: method}
	as.srv = httptest.NewUnstartedServer(http.HandlerFunc(as.serve))
	leaf, err := env.CA.Issue(pki.LeafOptions{CommonName: "as", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	as.srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12}
	if needClientCert {
		as.srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		as.srv.TLS.ClientCAs = env.CA.Pool()
	}
	as.srv.StartTLS()
	t.Cleanup(as.srv.Close)
	return as
}

func (as *authServer) serve(w http.ResponseWriter, r *http.Request) {
	as.calls.Add(1)
	as.mu.Lock()
	gate, status := as.gate, as.status
	as.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	_ = r.ParseForm()
	switch as.method {
	case "client_secret_basic":
		// RFC 6749 §2.3.1: credentials are form-encoded inside Basic.
		id, secret, ok := r.BasicAuth()
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if !ok || id != "gateway" || secret != "s3cr%t" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	case "client_secret_post":
		if r.PostForm.Get("client_id") != "gateway" || r.PostForm.Get("client_secret") != "s3cr%t" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	case "tls_client_auth":
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || r.PostForm.Get("client_id") != "gateway" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		as.mu.Lock()
		as.sawID = r.TLS.VerifiedChains[0][0].Subject.CommonName
		as.mu.Unlock()
	}
	as.mu.Lock()
	resp, ok := as.tokens[r.PostForm.Get("token")]
	as.mu.Unlock()
	if !ok {
		resp = map[string]any{"active": false}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func (as *authServer) set(f func(as *authServer)) {
	as.mu.Lock()
	defer as.mu.Unlock()
	f(as)
}

func config(env *gatewaytest.Env, as *authServer, method, extra string) string {
	secret := `
      client_secret: "s3cr%t"`
	if method == "tls_client_auth" {
		secret = `
      client_cert_file: ` + filepath.Join(env.Dir, "gw-client.crt") + `
      client_key_file: ` + filepath.Join(env.Dir, "gw-client.key")
	}
	return env.Base("none") + `
authenticators:
  - name: opaque
    introspection:
      endpoint: "` + as.srv.URL + `/introspect"
      ca_file: ` + env.CAFile + `
      client_id: gateway
      auth_method: ` + method + secret + `
      timeout: 500ms
      cache_ttl: 2m
      negative_cache_ttl: 10s
      audiences: [payments-api]` + extra + `
routes:
  - name: accounts
    path: /v1/accounts
    upstream: echo
    auth:
      authenticators: [opaque]
      require:
        scopes:
          all_of: [accounts:read]
`
}

type fixture struct {
	env *gatewaytest.Env
	as  *authServer
	gw  *gatewaytest.Gateway
	clk *testenv.Clock
}

func newFixture(t *testing.T, method string) *fixture {
	t.Helper()
	env := gatewaytest.NewEnv(t)
	if method == "tls_client_auth" {
		leaf, err := env.CA.Issue(pki.LeafOptions{CommonName: "portcullis-gateway", Client: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := leaf.WriteFiles(env.Dir, "gw-client"); err != nil {
			t.Fatal(err)
		}
	}
	as := newAuthServer(t, env, method, method == "tls_client_auth")
	clk := testenv.NewClock(time.Now().Truncate(time.Second))
	gw := env.Start(t, config(env, as, method, ""), gateway.Deps{TokenCache: tokencache.New(0, clk.Now), Now: clk.Now})
	return &fixture{env: env, as: as, gw: gw, clk: clk}
}

func (f *fixture) call(t *testing.T, tok string) gatewaytest.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", f.gw.URL+"/v1/accounts", nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return gatewaytest.Do(t, f.env.Client(), req)
}

func (f *fixture) active(extra map[string]any) map[string]any {
	m := map[string]any{
		"active": true, "sub": "alice", "client_id": "mobile-app", "scope": "accounts:read",
		"aud": []string{"payments-api"}, "exp": f.clk.Now().Add(time.Hour).Unix(), "iss": "https://as.example",
	}
	for k, v := range extra {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func TestIntrospection(t *testing.T) {
	f := newFixture(t, "client_secret_basic")
	f.as.set(func(as *authServer) {
		as.tokens["good"] = f.active(nil)
		as.tokens["no-scope"] = f.active(map[string]any{"scope": "other"})
		as.tokens["tok-exp1"] = f.active(map[string]any{"exp": f.clk.Now().Add(-time.Hour).Unix()})
		as.tokens["other-aud"] = f.active(map[string]any{"aud": "billing"})
		as.tokens["no-identity"] = f.active(map[string]any{"sub": nil, "client_id": nil})
	})
	tests := []struct {
		name, tok string
		status    int
		challenge string
		problem   string
	}{
		{"active", "good", 200, "", ""},
		{"inactive", "unknown", 401, chInvalid, "invalid-credential"},
		{"active without the scope", "no-scope", 403, `Bearer realm="portcullis", error="insufficient_scope", error_description="The access token lacks the scope this request needs.", scope="accounts:read"`, "insufficient-scope"},
		{"active but expired", "tok-exp1", 401, chExpired, "invalid-credential"},
		{"active for another audience", "other-aud", 401, chInvalid, "invalid-credential"},
		{"active without identity", "no-identity", 401, chInvalid, "invalid-credential"},
		{"no token", "", 401, `Bearer realm="portcullis"`, "unauthenticated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.call(t, tt.tok)
			if resp.Status != tt.status || resp.Header.Get("WWW-Authenticate") != tt.challenge {
				t.Fatalf("got %d %q, want %d %q; body %s", resp.Status, resp.Header.Get("WWW-Authenticate"), tt.status, tt.challenge, resp.Body)
			}
			if tt.status == 200 {
				e := resp.Echo(t)
				if e.Headers["X-Consumer-Id"][0] != "alice" || e.Headers["X-Auth-Method"][0] != "introspection" {
					t.Fatalf("identity upstream: %v", e.Headers)
				}
				return
			}
			if p := resp.Problem(t); p["type"] != "https://portcullis.dev/problems/"+tt.problem {
				t.Fatalf("problem %v", p)
			}
			if tt.tok != "" && strings.Contains(string(resp.Body), tt.tok) {
				t.Fatalf("body echoes the token: %s", resp.Body)
			}
		})
	}
}

func TestIntrospectionCaching(t *testing.T) {
	f := newFixture(t, "client_secret_post")
	f.as.set(func(as *authServer) {
		as.tokens["good"] = f.active(map[string]any{"exp": f.clk.Now().Add(5 * time.Minute).Unix()})
	})

	// Positive: one call, then served from cache until cache_ttl (2m).
	for range 3 {
		if r := f.call(t, "good"); r.Status != 200 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
	}
	if n := f.as.calls.Load(); n != 1 {
		t.Fatalf("calls = %d, want 1", n)
	}
	// Revoked at the server: still cached until cache_ttl passes.
	f.as.set(func(as *authServer) { delete(as.tokens, "good") })
	f.clk.Advance(2*time.Minute + time.Second)
	if r := f.call(t, "good"); r.Status != 401 {
		t.Fatalf("after cache_ttl, revoked token: %d", r.Status)
	}
	if n := f.as.calls.Load(); n != 2 {
		t.Fatalf("calls = %d, want 2", n)
	}
	// Negative: cached for negative_cache_ttl (10s) only.
	for range 5 {
		f.call(t, "good")
	}
	if n := f.as.calls.Load(); n != 2 {
		t.Fatalf("inactive verdict not cached: calls = %d", n)
	}
	f.as.set(func(as *authServer) { as.tokens["good"] = f.active(nil) })
	f.clk.Advance(11 * time.Second)
	if r := f.call(t, "good"); r.Status != 200 || f.as.calls.Load() != 3 {
		t.Fatalf("after negative_cache_ttl: %d, calls %d", r.Status, f.as.calls.Load())
	}
}

func TestIntrospectionFailsClosed(t *testing.T) {
	f := newFixture(t, "client_secret_basic")
	f.as.set(func(as *authServer) { as.tokens["good"] = f.active(nil) })
	tests := []struct {
		name  string
		setup func(t *testing.T)
	}{
		{"server answers 500", func(*testing.T) { f.as.set(func(as *authServer) { as.status = 500 }) }},
		{"server rejects the gateway's credentials", func(*testing.T) { f.as.set(func(as *authServer) { as.status = 401 }) }},
		{"slow server", func(t *testing.T) {
			gate := make(chan struct{})
			t.Cleanup(func() { close(gate) })
			f.as.set(func(as *authServer) { as.status, as.gate = 0, gate })
		}},
		{"server down", func(*testing.T) {
			f.as.set(func(as *authServer) { as.gate = nil })
			f.as.srv.Close()
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup(t)
			resp := f.call(t, "good-"+string(rune('a'+i))) // never cached
			if resp.Status != 503 {
				t.Fatalf("status = %d, want 503: %s", resp.Status, resp.Body)
			}
			p := resp.Problem(t)
			if p["type"] != "https://portcullis.dev/problems/auth-unavailable" || strings.Contains(string(resp.Body), "introspect") {
				t.Fatalf("problem = %s", resp.Body)
			}
		})
	}
}

func TestIntrospectionWithClientCertificate(t *testing.T) {
	f := newFixture(t, "tls_client_auth")
	f.as.set(func(as *authServer) { as.tokens["good"] = f.active(nil) })
	if r := f.call(t, "good"); r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	f.as.mu.Lock()
	defer f.as.mu.Unlock()
	if f.as.sawID != "portcullis-gateway" {
		t.Fatalf("server saw client certificate %q", f.as.sawID)
	}
}

func TestConcurrentRequestsShareOneCall(t *testing.T) {
	f := newFixture(t, "client_secret_basic")
	gate := make(chan struct{})
	f.as.set(func(as *authServer) { as.tokens["hot"] = f.active(nil); as.gate = gate })
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", f.gw.URL+"/v1/accounts", nil)
			req.Header.Set("Authorization", "Bearer hot")
			resp, err := f.env.Client().Do(req)
			if err == nil {
				statuses[i] = resp.StatusCode
				resp.Body.Close()
			}
		}()
	}
	// Let the first call reach the server, then release it.
	for range 200 {
		if f.as.calls.Load() > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(gate)
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("request %d: status %d", i, s)
		}
	}
	// All requests that arrived while the first call was out shared it;
	// any that arrived after it were served from the cache.
	if n := f.as.calls.Load(); n != 1 {
		t.Fatalf("calls = %d, want 1", n)
	}
}

// A route can take JWTs and opaque tokens: the jwt authenticator passes
// on tokens that are not JWTs, and a query token reaches the next
// authenticator intact and is stripped only once accepted.
func TestJWTThenIntrospection(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	as := newAuthServer(t, env, "client_secret_basic", false)
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	jwksFile := filepath.Join(env.Dir, "jwks.json")
	if err := os.WriteFile(jwksFile, is.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(time.Now())
	f := &fixture{env: env, as: as, clk: clk}
	as.set(func(as *authServer) { as.tokens["opaque-1"] = f.active(nil) })
	yaml := strings.Replace(config(env, as, "client_secret_basic", ""), "authenticators:\n", `authenticators:
  - name: jwt
    jwt:
      issuers:
        - {issuer: "`+is.URL()+`", audiences: [payments-api], jwks_file: `+jwksFile+`}
`, 1)
	yaml = strings.Replace(yaml, "authenticators: [opaque]", "authenticators: [jwt, opaque]\n      allow_query_token: true", 1)
	f.gw = env.Start(t, yaml, gateway.Deps{Now: clk.Now})
	jwtTok := is.Sign(is.Claims("payments-api", "bob", "accounts:read", time.Now(), time.Minute))
	tests := []struct {
		name, url, method, query string
	}{
		{"JWT in the query", "/v1/accounts?x=1&access_token=" + jwtTok, "jwt", "x=1"},
		{"opaque token in the query", "/v1/accounts?access_token=opaque-1&y=2", "introspection", "y=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.gw.URL+tt.url, nil)
			r := gatewaytest.Do(t, env.Client(), req)
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			e := r.Echo(t)
			if e.Headers["X-Auth-Method"][0] != tt.method || e.Query != tt.query {
				t.Fatalf("method %v, upstream query %q", e.Headers["X-Auth-Method"], e.Query)
			}
		})
	}
}

func TestAllowedClientIDs(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	as := newAuthServer(t, env, "client_secret_basic", false)
	clk := testenv.NewClock(time.Now())
	f := &fixture{env: env, as: as, clk: clk}
	as.set(func(as *authServer) {
		as.tokens["mobile"] = f.active(nil)
		as.tokens["batch"] = f.active(map[string]any{"client_id": "batch-job"})
	})
	f.gw = env.Start(t, config(env, as, "client_secret_basic", "\n      client_ids: [mobile-app]"), gateway.Deps{Now: clk.Now})
	if r := f.call(t, "mobile"); r.Status != 200 {
		t.Fatalf("allowed client: %d", r.Status)
	}
	if r := f.call(t, "batch"); r.Status != 401 || r.Header.Get("WWW-Authenticate") != chInvalid {
		t.Fatalf("other client: %d %q", r.Status, r.Header.Get("WWW-Authenticate"))
	}
}
