package proxy_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/keys"
)

// These tests run the real gateway over TLS, with HTTP/1.1 and HTTP/2
// clients, and assert what the upstream receives of a hostile request and
// what the client receives of a hostile upstream answer.

const goodKey = "pcl_test_good"

// fakeKeys verifies one API key.
type fakeKeys struct{}

func (fakeKeys) Verify(_ context.Context, presented string, _ netip.Addr) (*keys.Verified, error) {
	if presented != goodKey {
		return nil, &keys.Rejection{Reason: "unknown key"}
	}
	return &keys.Verified{KeyID: "key1", ConsumerID: "acme", Scopes: []string{"accounts:read"}, Groups: []string{"gold"}}, nil
}

// proto is a client speaking one HTTP version to the gateway.
type proto struct {
	name   string
	major  int
	client *http.Client
}

func protos(e *gatewaytest.Env) []proto {
	tlsCfg := func() *tls.Config { return &tls.Config{RootCAs: e.CA.Pool(), MinVersion: tls.VersionTLS12} }
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return []proto{
		{"HTTP/1.1", 1, &http.Client{Timeout: 10 * time.Second, CheckRedirect: noRedirect, Transport: &http.Transport{
			TLSClientConfig: tlsCfg(), TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}}},
		{"HTTP/2", 2, &http.Client{Timeout: 10 * time.Second, CheckRedirect: noRedirect, Transport: &http.Transport{
			TLSClientConfig: tlsCfg(), ForceAttemptHTTP2: true}}},
	}
}

// seen is a client's view of one exchange.
type seen struct {
	gatewaytest.Response
	informational []textproto.MIMEHeader // 1xx responses, in order
	codes         []int
}

func do(t *testing.T, p proto, req *http.Request) seen {
	t.Helper()
	var s seen
	var mu sync.Mutex
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			mu.Lock()
			defer mu.Unlock()
			s.codes = append(s.codes, code)
			s.informational = append(s.informational, h)
			return nil
		},
	}))
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != p.major {
		t.Fatalf("spoke %s, want %s", resp.Proto, p.name)
	}
	body, _ := io.ReadAll(resp.Body)
	s.Response = gatewaytest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	return s
}

func header(pairs ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(pairs); i += 2 {
		h[pairs[i]] = append(h[pairs[i]], pairs[i+1]) // as written: non-canonical names stay so
	}
	return h
}

// echoKeys are the header names the upstream received, for messages.
func echoKeys(e gatewaytest.Echo) []string {
	var ks []string
	for k := range e.Headers {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func requestConfig(e *gatewaytest.Env) string {
	return onTLS(e, `upstreams:
  - name: echo
    targets: ["`+e.Upstream+`"]
authenticators:
  - name: keys
    api_key:
      query_param: api_key
keys:
  store:
    driver: sqlite
    path: `+e.Dir+`/keys.db
routes:
  - name: keyed
    prefix: /keyed
    upstream: echo
    auth:
      authenticators: [keys]
  - name: open
    prefix: /open
    upstream: echo
    auth: none
  - name: lenient
    prefix: /lenient
    upstream: echo
    auth: none
    allow_underscore_headers: true
rate_limits:
  brute_force:
    enabled: false
`)
}

// What the upstream receives: only what the gateway vouches for. Each row
// sends hostile headers or query parameters; the upstream (echo) reports
// what reached it.
func TestHostileRequestHeaders(t *testing.T) {
	e := gatewaytest.NewEnv(t)
	g := e.Start(t, requestConfig(e), gateway.Deps{Keys: fakeKeys{}})
	identity := map[string]string{
		"X-Consumer-Id": "acme", "X-Consumer-Subject": "acme", "X-Scopes": "accounts:read",
		"X-Auth-Method": "api_key", "X-Credential-Id": "key1",
	}
	tests := []struct {
		name   string
		h1Only string // why the case cannot be sent over HTTP/2
		target string
		header http.Header
		// want are headers the upstream must receive with exactly this
		// value ("RID": the response's X-Request-Id); absent must not
		// reach it at all.
		want      map[string]string
		absent    []string
		wantQuery string
	}{
		{
			name: "Connection cannot remove gateway-asserted headers",
			h1Only: "HTTP/2 forbids connection-specific headers, so the client cannot send Connection " +
				"(RFC 9113 §8.2.2); the attack is HTTP/1.1 only",
			target: "/keyed/a",
			header: header("X-API-Key", goodKey, "Connection", "X-Consumer-Id, X-Consumer-Subject, X-Scopes, "+
				"X-Auth-Method, X-Credential-Id, X-Request-Id, X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host, Forwarded"),
			want: merge(identity, map[string]string{"X-Request-Id": "RID", "X-Forwarded-For": "127.0.0.1",
				"X-Forwarded-Proto": "https", "Forwarded": "for=127.0.0.1;host=\"HOST\";proto=https", "X-Forwarded-Host": "HOST"}),
		},
		{
			name:   "forged identity headers are replaced",
			target: "/keyed/a",
			header: header("X-API-Key", goodKey, "X-Consumer-Id", "victim", "X-Scopes", "payments:write", "X-Auth-Method", "jwt"),
			want:   identity,
		},
		{
			name:   "names with underscores are dropped",
			target: "/keyed/a",
			header: header("X-API-Key", goodKey, "X_Consumer_Id", "victim", "X_Scopes", "payments:write", "X_Custom", "1"),
			want:   identity,
			absent: []string{"X_consumer_id", "X_scopes", "X_custom", "X_Consumer_Id", "X_Scopes", "X_Custom"},
		},
		{
			name:   "names with underscores are kept where the route allows them",
			target: "/lenient/a",
			header: header("X_Custom", "1"),
			want:   map[string]string{"X_custom": "1"},
		},
		{
			name:   "identity headers are stripped on auth none routes",
			target: "/open/a",
			header: header("X-Consumer-Id", "victim", "X-Scopes", "payments:write", "X-Credential-Id", "k"),
			absent: []string{"X-Consumer-Id", "X-Scopes", "X-Credential-Id"},
		},
		{
			name:   "client IP and URL overrides are stripped",
			target: "/open/a",
			header: header("X-Real-IP", "10.0.0.1", "True-Client-IP", "10.0.0.1", "X-Client-IP", "10.0.0.1",
				"X-Original-URL", "/admin", "X-Rewrite-URL", "/admin", "X-Forwarded-Prefix", "/admin",
				"X-Forwarded-Port", "1", "X-Consumer-Groups", "admins", "X-Host", "evil.example"),
			absent: []string{"X-Real-Ip", "True-Client-Ip", "X-Client-Ip", "X-Original-Url", "X-Rewrite-Url",
				"X-Forwarded-Prefix", "X-Forwarded-Port", "X-Consumer-Groups", "X-Host"},
		},
		{
			name:   "method overrides are stripped and the query kept byte for byte",
			target: "/open/a?z=1&_method=DELETE&a=%20b&%5Fmethod=PUT&c=x+y",
			header: header("X-HTTP-Method-Override", "DELETE", "X-HTTP-Method", "DELETE", "X-Method-Override", "DELETE"),
			absent: []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"},
			// A query that needs no change is forwarded as sent.
			wantQuery: "z=1&a=%20b&c=x+y",
		},
		{
			name:   "trace context is stripped when tracing is off",
			target: "/open/a",
			header: header("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
				"Tracestate", "vendor=x", "X-B3-TraceId", "1"),
			absent: []string{"Traceparent", "Tracestate", "X-B3-Traceid"},
		},
		{
			name:   "a request id from a peer that is no trusted proxy is replaced",
			target: "/open/a",
			header: header("X-Request-Id", "chosen-by-client"),
			want:   map[string]string{"X-Request-Id": "RID"},
		},
		{
			name:   "unverified Authorization and access_token are removed when an API key authenticates",
			target: "/keyed/a?x=1&access_token=forged&y=2",
			header: header("X-API-Key", goodKey,
				"Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."),
			want:      identity,
			absent:    []string{"Authorization", "X-Api-Key"},
			wantQuery: "x=1&y=2",
		},
		{
			name:      "Basic credentials are removed when a query API key authenticates",
			target:    "/keyed/a?api_key=" + goodKey + "&x=1",
			header:    header("Authorization", "Basic YWRtaW46YWRtaW4="),
			want:      identity,
			absent:    []string{"Authorization"},
			wantQuery: "x=1",
		},
		{
			name:   "on auth none routes Authorization is the upstream's, API keys never leave",
			target: "/open/a",
			header: header("Authorization", "Basic Y2xpZW50OnNlY3JldA==", "X-API-Key", goodKey),
			want:   map[string]string{"Authorization": "Basic Y2xpZW50OnNlY3JldA=="},
			absent: []string{"X-Api-Key"},
		},
	}
	for _, p := range protos(e) {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				if tt.h1Only != "" && p.major != 1 {
					t.Skip(tt.h1Only)
				}
				req, _ := http.NewRequest(http.MethodGet, g.URL+tt.target, nil)
				for k, vs := range tt.header {
					req.Header[k] = vs
				}
				got := do(t, p, req)
				if got.Status != 200 {
					t.Fatalf("status %d: %s", got.Status, got.Body)
				}
				echo := got.Echo(t)
				host := strings.TrimPrefix(g.URL, "https://")
				for k, v := range tt.want {
					v = strings.ReplaceAll(strings.ReplaceAll(v, "RID", got.Header.Get("X-Request-Id")), "HOST", host)
					if vals := echo.Headers[k]; len(vals) != 1 || vals[0] != v {
						t.Errorf("upstream %s = %q, want %q (received %v)", k, vals, v, echoKeys(echo))
					}
				}
				for _, k := range tt.absent {
					if vals, ok := echo.Headers[k]; ok {
						t.Errorf("upstream received %s: %q", k, vals)
					}
				}
				for k := range echo.Headers {
					if strings.Contains(k, "_") && !strings.HasPrefix(tt.target, "/lenient/") {
						t.Errorf("upstream received %s", k)
					}
				}
				if tt.wantQuery != "" && echo.Query != tt.wantQuery {
					t.Errorf("upstream query = %q, want %q", echo.Query, tt.wantQuery)
				}
				if echo.Method != http.MethodGet {
					t.Errorf("upstream method = %s", echo.Method)
				}
				if id := got.Header.Get("X-Request-Id"); id == "chosen-by-client" || len(id) != 16 {
					t.Errorf("X-Request-Id = %q, want one the gateway made", id)
				}
			})
		}
	}
}

// onTLS is a gateway config of one TLS listener on a free port, no ops
// listener and an access log, around sections (upstreams, routes, ...).
func onTLS(e *gatewaytest.Env, sections string) string {
	return `listeners:
  - name: public
    address: "127.0.0.1:0"
    tls:
      cert_file: ` + e.CertFile + `
      key_file: ` + e.KeyFile + `
ops:
  disabled: true
` + sections + `logging:
  level: error
  access:
    output: ` + e.AccessLog + "\n"
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// Two Authorization headers, or two API keys, are refused before any
// authenticator picks one (the upstream might pick the other).
func TestDuplicateCredentialHeaders(t *testing.T) {
	e := gatewaytest.NewEnv(t)
	g := e.Start(t, requestConfig(e), gateway.Deps{Keys: fakeKeys{}})
	tests := []struct {
		name      string
		header    http.Header
		challenge string
		detail    string
	}{
		{"two Authorization headers next to a valid key",
			header("X-API-Key", goodKey, "Authorization", "Basic YTpi", "Authorization", "Basic YzpK"),
			`ApiKey realm="portcullis", header="X-API-Key", error="invalid_request", error_description="Send exactly one Authorization header."`,
			"Send exactly one Authorization header."},
		{"two API keys",
			header("X-API-Key", goodKey, "X-API-Key", "pcl_test_other"),
			`ApiKey realm="portcullis", header="X-API-Key", error="invalid_request", error_description="Send exactly one API key."`,
			"Send exactly one API key."},
	}
	for _, p := range protos(e) {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, g.URL+"/keyed/a", nil)
				for k, vs := range tt.header {
					req.Header[http.CanonicalHeaderKey(k)] = append(req.Header[http.CanonicalHeaderKey(k)], vs...)
				}
				got := do(t, p, req)
				rid := got.Header.Get("X-Request-Id")
				want := `{"type":"https://portcullis.dev/problems/invalid-auth-request","title":"Unauthorized","status":401,"detail":"` +
					tt.detail + `","request_id":"` + rid + `"}` + "\n"
				if got.Status != 401 || string(got.Body) != want {
					t.Fatalf("got %d %s\nwant 401 %s", got.Status, got.Body, want)
				}
				if c := got.Header.Get("Www-Authenticate"); c != tt.challenge {
					t.Errorf("WWW-Authenticate = %q\nwant %q", c, tt.challenge)
				}
			})
		}
	}
}

// Request trailers reach the upstream only where a route opts in: no check
// of the gateway ever sees them.
func TestRequestTrailers(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		var got []string
		for k, vs := range r.Trailer {
			got = append(got, k+"="+strings.Join(vs, ","))
		}
		slices.Sort(got)
		_, _ = io.WriteString(w, strings.Join(got, ";"))
	}))
	t.Cleanup(up.Close)
	e := gatewaytest.NewEnv(t)
	g := e.Start(t, onTLS(e, `upstreams:
  - name: up
    targets: ["`+up.URL+`"]
routes:
  - name: plain
    path: /plain
    upstream: up
    auth: none
  - name: trailing
    path: /trailing
    upstream: up
    auth: none
    allow_trailers: true
`), gateway.Deps{})
	tests := []struct{ path, want string }{
		{"/plain", ""},
		{"/trailing", "X-Signature=s1"},
	}
	for _, p := range protos(e) {
		for _, tt := range tests {
			t.Run(p.name+tt.path, func(t *testing.T) {
				body := &trailerBody{r: strings.NewReader("payload")}
				req, _ := http.NewRequest(http.MethodPost, g.URL+tt.path, body)
				req.ContentLength = -1 // chunked (HTTP/1.1) or no content-length (HTTP/2): trailers need it
				req.Trailer = http.Header{"X-Signature": nil}
				body.trailer = req.Trailer
				got := do(t, p, req)
				if got.Status != 200 || string(got.Body) != tt.want {
					t.Fatalf("got %d %q, want 200 %q", got.Status, got.Body, tt.want)
				}
			})
		}
	}
}

// trailerBody fills its request's trailer when the body ends, as a client
// that signs what it streamed would.
type trailerBody struct {
	r       io.Reader
	trailer http.Header
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		b.trailer.Set("X-Signature", "s1")
	}
	return n, err
}

// hostile answers with what a careless or compromised upstream sends.
func hostile(t *testing.T) *httptest.Server {
	var self string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		path := strings.TrimPrefix(r.URL.Path, "/base")
		_, name, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		switch name {
		case "fingerprint":
			// Set as backends write them: not in canonical form.
			for k, v := range map[string]string{
				"Server": "Apache/2.4.1 (Unix)", "X-Powered-By": "PHP/5.1", "X-AspNet-Version": "4.0.30319",
				"X-AspNetMvc-Version": "5.2", "Via": "1.1 backend-7.internal", "X-Backend-Server": "10.1.2.3",
				"X-Runtime": "0.012", "X-Upstream-Addr": "10.1.2.3:8080", "X-Served-By": "cache-fra-1",
				"X-Generator": "Drupal 7", "X-Drupal-Cache": "HIT", "X-Varnish": "12345", "X-Envoy-Upstream-Service-Time": "3",
				"X-Request-Id": "upstream-id", "Strict-Transport-Security": "max-age=0", "X-Custom": "kept",
			} {
				h[k] = []string{v}
			}
		case "stacktrace":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "Traceback: psycopg2.connect(host=db.internal password=hunter2)")
			return
		case "many-headers":
			for i := range 150 {
				h.Add("X-Item", strings.Repeat("i", i%10+1))
			}
		case "big-header":
			h.Set("X-Big", strings.Repeat("b", 70<<10))
		case "early-hints":
			h.Set("Link", "</app.css>; rel=preload")
			h.Set("Server", "Apache/2.4.1")
			w.WriteHeader(http.StatusEarlyHints)
			clear(h)
		case "hint-flood":
			for range 8 {
				h.Set("Link", "</x>")
				w.WriteHeader(http.StatusEarlyHints)
			}
			clear(h)
		case "own-redirect":
			h.Set("Location", self+"/r/next?x=1#top")
			h.Set("Content-Location", self+"/r/doc")
			w.WriteHeader(http.StatusFound)
			return
		case "own-redirect-slashes":
			h.Set("Location", self+"//evil.example/x")
			w.WriteHeader(http.StatusFound)
			return
		case "outside-base":
			h.Set("Location", self+"/admin")
			w.WriteHeader(http.StatusFound)
			return
		case "inside-base":
			h.Set("Location", self+"/base/b/next")
			w.WriteHeader(http.StatusFound)
			return
		case "external-redirect":
			h.Set("Location", "https://login.example.com/authorize?x=1")
			w.WriteHeader(http.StatusFound)
			return
		}
		h.Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	self = srv.URL
	return srv
}

// What the client receives: only what the gateway vouches for, whatever
// the upstream answers.
func TestHostileUpstreamResponses(t *testing.T) {
	up := hostile(t)
	e := gatewaytest.NewEnv(t)
	g := e.Start(t, onTLS(e, `upstreams:
  - name: hostile
    targets: ["`+up.URL+`"]
  - name: based
    targets: ["`+up.URL+`/base"]
routes:
  - name: relayed
    prefix: /r
    upstream: hostile
    auth: none
  - name: masked
    prefix: /masked
    upstream: hostile
    auth: none
    upstream_errors: mask
  - name: based
    prefix: /b
    upstream: based
    auth: none
`), gateway.Deps{})
	const hsts = "max-age=31536000; includeSubDomains"
	badGateway := `{"type":"https://portcullis.dev/problems/bad-gateway","title":"Bad Gateway","status":502,` +
		`"detail":"The upstream service could not be reached or sent an invalid response.","request_id":"RID"}` + "\n"
	tests := []struct {
		name   string
		path   string
		status int
		body   string // exact; RID is the response's X-Request-Id
		// header must be exactly these values ("" : absent).
		header map[string]string
		// hints are the Link values of the 1xx responses the client gets.
		hints []string
	}{
		{name: "fingerprinting headers are stripped", path: "/r/fingerprint", status: 200, body: "ok",
			header: map[string]string{"Server": "", "X-Powered-By": "", "X-Aspnet-Version": "", "X-Aspnetmvc-Version": "",
				"Via": "", "X-Backend-Server": "", "X-Runtime": "", "X-Upstream-Addr": "", "X-Served-By": "", "X-Generator": "",
				"X-Drupal-Cache": "", "X-Varnish": "", "X-Envoy-Upstream-Service-Time": "",
				"Strict-Transport-Security": hsts, "X-Custom": "kept", "X-Content-Type-Options": "nosniff"}},
		{name: "an upstream 5xx is relayed by default", path: "/r/stacktrace", status: 500,
			body: "Traceback: psycopg2.connect(host=db.internal password=hunter2)"},
		{name: "an upstream 5xx is masked where the route says so", path: "/masked/stacktrace", status: 502, body: badGateway,
			header: map[string]string{"Content-Type": "application/problem+json", "Strict-Transport-Security": hsts}},
		{name: "a masked route relays success", path: "/masked/fingerprint", status: 200, body: "ok",
			header: map[string]string{"X-Custom": "kept", "Server": ""}},
		{name: "too many response header fields", path: "/r/many-headers", status: 502, body: badGateway},
		{name: "too large response headers", path: "/r/big-header", status: 502, body: badGateway},
		{name: "early hints are relayed, stripped, and keep the final response's headers", path: "/r/early-hints",
			status: 200, body: "ok", hints: []string{"</app.css>; rel=preload"},
			header: map[string]string{"Strict-Transport-Security": hsts, "Link": "", "Server": ""}},
		{name: "an upstream that floods 1xx responses gets 502", path: "/r/hint-flood", status: 502, body: badGateway,
			hints: []string{"</x>", "</x>", "</x>", "</x>", "</x>"}},
		{name: "a redirect to the upstream's own address is made relative", path: "/r/own-redirect", status: 302,
			header: map[string]string{"Location": "/r/next?x=1#top", "Content-Location": "/r/doc"}},
		{name: "a rewritten redirect never names another host", path: "/r/own-redirect-slashes", status: 302,
			header: map[string]string{"Location": "/evil.example/x"}},
		{name: "a redirect under the target's base path loses it", path: "/b/inside-base", status: 302,
			header: map[string]string{"Location": "/b/next"}},
		{name: "a redirect outside the target's base path is dropped", path: "/b/outside-base", status: 302,
			header: map[string]string{"Location": ""}},
		{name: "a redirect elsewhere is kept", path: "/r/external-redirect", status: 302,
			header: map[string]string{"Location": "https://login.example.com/authorize?x=1"}},
	}
	for _, p := range protos(e) {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, g.URL+tt.path, nil)
				got := do(t, p, req)
				rid := got.Header.Values("X-Request-Id")
				if len(rid) != 1 || len(rid[0]) != 16 {
					t.Errorf("X-Request-Id = %q, want the gateway's one", rid)
					rid = append(rid, "")
				}
				if want := strings.ReplaceAll(tt.body, "RID", rid[0]); got.Status != tt.status || tt.body != "" && string(got.Body) != want {
					t.Fatalf("got %d %q\nwant %d %q", got.Status, got.Body, tt.status, want)
				}
				for k, want := range tt.header {
					if vals := got.Header.Values(k); want == "" && len(vals) > 0 || want != "" && (len(vals) != 1 || vals[0] != want) {
						t.Errorf("%s = %q, want %q", k, vals, want)
					}
				}
				var hints []string
				for i, h := range got.informational {
					if got.codes[i] != http.StatusEarlyHints {
						t.Errorf("1xx status %d", got.codes[i])
					}
					for _, leak := range []string{"Server", "X-Powered-By"} {
						if v := h.Get(leak); v != "" {
							t.Errorf("1xx response leaked %s: %q", leak, v)
						}
					}
					hints = append(hints, h.Get("Link"))
				}
				if !slices.Equal(hints, tt.hints) {
					t.Errorf("1xx Link values = %q, want %q", hints, tt.hints)
				}
			})
		}
	}
}

// With tracing on, the upstream's traceparent is the gateway's span, set
// on the outbound request: neither a client's copy nor a Connection header
// naming it changes what the upstream receives.
func TestTraceparentWithTracingOn(t *testing.T) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(collector.Close)
	e := gatewaytest.NewEnv(t)
	// sample_ratio 0: no attempt span, so the server span's context is what
	// the upstream gets, through the forwarder alone.
	g := e.Start(t, e.Base("none")+`routes:
  - name: open
    prefix: /open
    upstream: echo
    auth: none
tracing:
  enabled: true
  endpoint: "`+collector.URL+`/v1/traces"
  insecure: true
  sample_ratio: 0
`, gateway.Deps{})
	const clientParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name, h1Only string
		header       http.Header
	}{
		{name: "a client's traceparent is replaced", header: header("Traceparent", clientParent, "Tracestate", "v=1")},
		{name: "Connection cannot remove the gateway's traceparent",
			h1Only: "HTTP/2 forbids the Connection header (RFC 9113 §8.2.2)",
			header: header("Traceparent", clientParent, "Connection", "Traceparent")},
	}
	for _, p := range protos(e) {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				if tt.h1Only != "" && p.major != 1 {
					t.Skip(tt.h1Only)
				}
				req, _ := http.NewRequest(http.MethodGet, g.URL+"/open/a", nil)
				for k, vs := range tt.header {
					req.Header[k] = vs
				}
				got := do(t, p, req)
				if got.Status != 200 {
					t.Fatalf("status %d: %s", got.Status, got.Body)
				}
				echo := got.Echo(t)
				tp := echo.Headers["Traceparent"]
				if len(tp) != 1 || len(tp[0]) != len(clientParent) || !strings.HasPrefix(tp[0], "00-") ||
					strings.Contains(tp[0], "4bf92f3577b34da6a3ce929d0e0e4736") || !strings.HasSuffix(tp[0], "-00") {
					t.Errorf("upstream traceparent = %q, want the gateway's unsampled span", tp)
				}
				if ts, ok := echo.Headers["Tracestate"]; ok {
					t.Errorf("upstream tracestate = %q", ts)
				}
			})
		}
	}
}
