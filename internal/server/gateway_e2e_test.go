package server_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const baseConfig = `
listeners:
  - name: public
    address: "127.0.0.1:0"
    tls:
      cert_file: "{{CERT}}"
      key_file: "{{KEY}}"
    http_redirect: "127.0.0.1:0"
ops:
  address: "127.0.0.1:0"
trusted_proxies: [{{TRUSTED}}]
upstreams:
  - name: api
    targets: ["{{UP}}"]
    response_header_timeout: 300ms
  - name: dead
    targets: ["http://{{DEAD}}"]
    retries: 0
routes:
  - name: accounts
    path: /v1/accounts
    methods: [GET, POST]
    upstream: api
    auth: none
    max_body_bytes: 16
  - name: account
    path: /v1/accounts/{id}
    methods: [GET]
    upstream: api
    auth: none
  - name: down
    path: /v1/down
    upstream: dead
    auth: none
  - name: files
    prefix: /v1/files
    upstream: api
    auth: none
logging:
  access:
    output: "{{ACCESS}}"
    flush_interval: 50ms
    headers: [Authorization, X-Correlation-Id]
`

func startBase(t *testing.T, trusted string) (*gw, *upstream) {
	t.Helper()
	up := newUpstream(t, nil)
	g := startGateway(t, baseConfig, map[string]string{"UP": up.URL, "DEAD": closedPort(t), "TRUSTED": trusted})
	return g, up
}

func TestRoutingAndProblems(t *testing.T) {
	g, up := startBase(t, "")
	tests := []struct {
		name, method, path, body string
		header                   http.Header
		status                   int
		wantBody                 string // exact, with the request id masked as RID
		wantHeader               map[string]string
		reachesUpstream          bool
	}{
		{name: "exact route", method: "GET", path: "/v1/accounts", status: 200,
			wantBody: `{"ok":true,"path":"/v1/accounts"}`, reachesUpstream: true},
		{name: "param route", method: "GET", path: "/v1/accounts/acc_1", status: 200,
			wantBody: `{"ok":true,"path":"/v1/accounts/acc_1"}`, reachesUpstream: true},
		{name: "prefix route with collapsed slashes", method: "GET", path: "/v1//files///a", status: 200,
			wantBody: `{"ok":true,"path":"/v1/files/a"}`, reachesUpstream: true},
		{name: "404", method: "GET", path: "/v2/nothing", status: 404,
			wantBody: `{"type":"https://portcullis.dev/problems/not-found","title":"Not Found","status":404,"detail":"No route matches this request.","request_id":"RID"}`},
		{name: "405 with Allow", method: "DELETE", path: "/v1/accounts", status: 405,
			wantBody:   `{"type":"https://portcullis.dev/problems/method-not-allowed","title":"Method Not Allowed","status":405,"detail":"The route does not accept this method.","request_id":"RID"}`,
			wantHeader: map[string]string{"Allow": "GET, HEAD, POST"}},
		{name: "body over limit", method: "POST", path: "/v1/accounts", body: strings.Repeat("x", 17), status: 413,
			wantBody: `{"type":"https://portcullis.dev/problems/payload-too-large","title":"Content Too Large","status":413,"detail":"The request body exceeds the limit of 16 bytes.","request_id":"RID"}`},
		{name: "body at limit", method: "POST", path: "/v1/accounts", body: strings.Repeat("x", 16), status: 200,
			wantBody: `{"ok":true,"path":"/v1/accounts"}`, reachesUpstream: true},
		{name: "dot-dot rejected", method: "GET", path: "/v1/files/../accounts", status: 400,
			wantBody: `{"type":"https://portcullis.dev/problems/invalid-path","title":"Bad Request","status":400,"detail":"The request path is malformed or not allowed.","request_id":"RID"}`},
		{name: "encoded dot-dot rejected", method: "GET", path: "/v1/files/%2e%2e/accounts", status: 400},
		{name: "encoded slash rejected", method: "GET", path: "/v1/files/a%2f..%2f..%2fadmin", status: 400},
		{name: "double encoded rejected", method: "GET", path: "/v1/files/%252e%252e/x", status: 400},
		{name: "upstream down", method: "GET", path: "/v1/down", status: 502,
			wantBody: `{"type":"https://portcullis.dev/problems/bad-gateway","title":"Bad Gateway","status":502,"detail":"The upstream service could not be reached or sent an invalid response.","request_id":"RID"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.hits.Load()
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, _ := http.NewRequest(tt.method, g.base+tt.path, body)
			resp, got := g.do(req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, got)
			}
			rid := resp.Header.Get("X-Request-Id")
			if rid == "" {
				t.Fatal("no X-Request-Id")
			}
			if resp.Header.Get("Strict-Transport-Security") != "max-age=31536000; includeSubDomains" {
				t.Errorf("HSTS = %q", resp.Header.Get("Strict-Transport-Security"))
			}
			if tt.status >= 400 {
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type = %q", ct)
				}
			}
			if tt.wantBody != "" {
				if want := strings.ReplaceAll(tt.wantBody, "RID", rid); strings.TrimSpace(got) != want {
					t.Errorf("body = %s\nwant   %s", got, want)
				}
			}
			for k, v := range tt.wantHeader {
				if resp.Header.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, resp.Header.Get(k), v)
				}
			}
			if reached := up.hits.Load() > before; reached != tt.reachesUpstream {
				t.Errorf("reached upstream = %v, want %v", reached, tt.reachesUpstream)
			}
		})
	}
}

// A body of unknown length (chunked) is checked against the route's limit
// before anything is forwarded: over it, the upstream is never called;
// within it, the upstream gets the whole body with its Content-Length.
func TestStreamedBodyLimit(t *testing.T) {
	type seen struct {
		body    string
		length  int64
		chunked bool
	}
	got := make(chan seen, 4)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{string(b), r.ContentLength, len(r.TransferEncoding) > 0}
		_, _ = io.WriteString(w, "ok")
	})
	g := startGateway(t, baseConfig, map[string]string{"UP": up.URL, "DEAD": closedPort(t), "TRUSTED": ""})
	stream := func(parts ...string) *http.Request {
		pr, pw := io.Pipe()
		go func() {
			for _, p := range parts {
				_, _ = pw.Write([]byte(p))
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", g.base+"/v1/accounts", pr) // no Content-Length: chunked
		return req
	}
	tests := []struct {
		name   string
		parts  []string
		status int
		want   *seen
	}{
		{"over the limit", []string{"0123456789", "0123456789"}, 413, nil},
		{"at the limit", []string{"01234567", "89abcdef"}, 200, &seen{"0123456789abcdef", 16, false}},
		{"empty", nil, 200, &seen{"", 0, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := up.hits.Load()
			resp, body := g.do(stream(tc.parts...))
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, body %s", resp.StatusCode, body)
			}
			if tc.want == nil {
				if tc.status == 413 && body != `{"type":"https://portcullis.dev/problems/payload-too-large","title":"Content Too Large","status":413,"detail":"The request body exceeds the limit of 16 bytes.","request_id":"`+resp.Header.Get("X-Request-Id")+`"}`+"\n" {
					t.Errorf("body = %s", body)
				}
				if n := up.hits.Load() - before; n != 0 {
					t.Fatalf("the upstream was called %d times for a refused body", n)
				}
				return
			}
			if s := <-got; s != *tc.want {
				t.Fatalf("upstream saw %+v, want %+v", s, *tc.want)
			}
		})
	}
}

func TestUpstreamTimeout(t *testing.T) {
	g, up := startBase(t, "")
	up.delay.Store(int64(2 * time.Second))
	resp, body := g.get("/v1/accounts")
	if resp.StatusCode != 504 {
		t.Fatalf("status = %d, body %s", resp.StatusCode, body)
	}
	want := `{"type":"https://portcullis.dev/problems/gateway-timeout","title":"Gateway Timeout","status":504,"detail":"The upstream service did not answer in time.","request_id":"` + resp.Header.Get("X-Request-Id") + `"}`
	if strings.TrimSpace(body) != want {
		t.Errorf("body = %s", body)
	}
}

func TestHeaders(t *testing.T) {
	g, up := startBase(t, "")
	t.Run("response hardening", func(t *testing.T) {
		resp, _ := g.get("/v1/accounts")
		for _, h := range []string{"Server", "X-Powered-By"} {
			if v := resp.Header.Get(h); v != "" {
				t.Errorf("%s leaked: %q", h, v)
			}
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Error("no nosniff")
		}
	})
	t.Run("hop-by-hop and spoofed forwarding stripped", func(t *testing.T) {
		req, _ := http.NewRequest("GET", g.base+"/v1/accounts", nil)
		req.Header.Set("Connection", "X-Secret-Hop")
		req.Header.Set("X-Secret-Hop", "1")
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		req.Header.Set("Forwarded", "for=6.6.6.6")
		req.Header.Set("X-Forwarded-Host", "evil.example")
		// HTTP/1.1: HTTP/2 forbids connection-specific headers outright.
		h1 := &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: g.ca.Pool()},
			TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{},
		}}
		resp, err := h1.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
		in := up.lastRequest()
		checks := map[string]string{
			"X-Secret-Hop":      "",
			"X-Forwarded-For":   "127.0.0.1",
			"X-Forwarded-Proto": "https",
			"X-Forwarded-Host":  strings.TrimPrefix(g.base, "https://"),
			"Forwarded":         `for=127.0.0.1;host="` + strings.TrimPrefix(g.base, "https://") + `";proto=https`,
		}
		for k, want := range checks {
			if got := in.Header.Get(k); got != want {
				t.Errorf("upstream %s = %q, want %q", k, got, want)
			}
		}
	})
	t.Run("request id", func(t *testing.T) {
		// Only a trusted proxy may choose the id (127.0.0.1 is one for
		// the second gateway); anyone else's is replaced.
		proxied, proxiedUp := startBase(t, `"127.0.0.1/32"`)
		tests := []struct {
			name, sent, want string
			g                *gw
			up               *upstream
		}{
			{"valid from a client replaced", "abc-123_X.y", "", g, up},
			{"valid from a trusted proxy kept", "abc-123_X.y", "abc-123_X.y", proxied, proxiedUp},
			{"too long from a trusted proxy replaced", strings.Repeat("a", 65), "", proxied, proxiedUp},
			{"unsafe from a trusted proxy replaced", "abc\"def", "", proxied, proxiedUp},
			{"absent generated", "", "", g, up},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				g, up := tt.g, tt.up
				var hdr []string
				if tt.sent != "" {
					hdr = []string{"X-Request-Id", tt.sent}
				}
				resp, _ := g.get("/v1/accounts", hdr...)
				got := resp.Header.Get("X-Request-Id")
				if tt.want != "" && got != tt.want || tt.want == "" && (got == "" || got == tt.sent) {
					t.Fatalf("X-Request-Id = %q (sent %q)", got, tt.sent)
				}
				if fwd := up.lastRequest().Header.Get("X-Request-Id"); fwd != got {
					t.Errorf("forwarded id %q != response id %q", fwd, got)
				}
			})
		}
	})
}

func TestTrustedProxyClientIP(t *testing.T) {
	g, up := startBase(t, `"127.0.0.1/32"`)
	resp, _ := g.get("/v1/accounts", "X-Forwarded-For", "203.0.113.9, 10.9.9.9")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	in := up.lastRequest()
	if got := in.Header.Get("X-Forwarded-For"); got != "203.0.113.9, 10.9.9.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q", got)
	}
	// 10.9.9.9 is not trusted, so it is the client (the nearest untrusted hop).
	if got := in.Header.Get("Forwarded"); !strings.HasPrefix(got, "for=10.9.9.9;") {
		t.Errorf("Forwarded = %q", got)
	}
	lines := g.accessLines()
	if ip := lines[len(lines)-1]["client_ip"]; ip != "10.9.9.9" {
		t.Errorf("logged client_ip = %v", ip)
	}
}

func TestAccessLogRedaction(t *testing.T) {
	g, _ := startBase(t, "")
	secret := "Bearer eyJhbGciOiJSUzI1NiJ9.secret-token"
	resp, _ := g.get("/v1/files/4111111111111111/statement?token=s3cr3t&card=4111-1111-1111-1111",
		"Authorization", secret, "X-Correlation-Id", "corr-1", "User-Agent", "test-agent/1.0")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	lines := g.accessLines()
	last := lines[len(lines)-1]
	want := map[string]any{
		"msg":                     "access",
		"method":                  "GET",
		"path":                    "/v1/files/************1111/statement",
		"query":                   "token=[REDACTED]&card=[REDACTED]",
		"status":                  float64(200),
		"route":                   "files",
		"upstream":                "api",
		"user_agent":              "test-agent/1.0",
		"client_ip":               "127.0.0.1",
		"header.Authorization":    "[REDACTED]",
		"header.X-Correlation-Id": "corr-1",
		"request_id":              resp.Header.Get("X-Request-Id"),
	}
	for k, v := range want {
		if last[k] != v {
			t.Errorf("%s = %v, want %v", k, last[k], v)
		}
	}
	for _, k := range []string{"time", "duration_ms", "bytes_in", "bytes_out", "upstream_latency_ms", "tls_version", "host"} {
		if _, ok := last[k]; !ok {
			t.Errorf("missing field %s", k)
		}
	}
	if ts, _ := last["time"].(string); !strings.HasSuffix(ts, "Z") {
		t.Errorf("time %q is not UTC RFC 3339", ts)
	}
	raw, _ := readFile(g.access)
	for _, leak := range []string{"s3cr3t", "secret-token", "4111111111111111", "4111-1111"} {
		if strings.Contains(raw, leak) {
			t.Errorf("access log contains %q", leak)
		}
	}
}

func TestRedirectListener(t *testing.T) {
	g, _ := startBase(t, "")
	addr := g.srv.Addr("public-redirect")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get("http://" + addr + "/v1/accounts?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(g.base, "https://"), ":")
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://127.0.0.1:"+port+"/v1/accounts?x=1" {
		t.Fatalf("got %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS must not be sent over plain HTTP")
	}
}

func TestTLSPolicy(t *testing.T) {
	g, _ := startBase(t, "")
	addr := strings.TrimPrefix(g.base, "https://")
	tests := []struct {
		name     string
		cfg      *tls.Config
		ok       bool
		version  uint16
		protocol string
	}{
		{name: "TLS 1.1 rejected", cfg: &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}},
		{name: "TLS 1.2 CBC cipher rejected", cfg: &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}}},
		{name: "TLS 1.2 RC4 rejected", cfg: &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA}}},
		{name: "TLS 1.2 static RSA key exchange rejected", cfg: &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_256_GCM_SHA384}}},
		{name: "TLS 1.2 ECDHE AEAD accepted", cfg: &tls.Config{MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, ok: true, version: tls.VersionTLS12},
		{name: "TLS 1.3 preferred with h2", cfg: &tls.Config{NextProtos: []string{"h2", "http/1.1"}}, ok: true, version: tls.VersionTLS13, protocol: "h2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg.Clone()
			cfg.RootCAs = g.ca.Pool()
			cfg.ServerName = "127.0.0.1"
			conn, err := tls.Dial("tcp", addr, cfg)
			if !tt.ok {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded; want failure")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			st := conn.ConnectionState()
			if st.Version != tt.version {
				t.Errorf("version = %x, want %x", st.Version, tt.version)
			}
			if tt.protocol != "" && st.NegotiatedProtocol != tt.protocol {
				t.Errorf("ALPN = %q, want %q", st.NegotiatedProtocol, tt.protocol)
			}
		})
	}
}

// With client_ip_header: forwarded, a trusted peer's RFC 7239 Forwarded
// decides the client; the upstream gets an X-Forwarded-For chain that leads
// to the same client and a Forwarded element for it, never the incoming
// header itself.
func TestTrustedProxyForwarded(t *testing.T) {
	up := newUpstream(t, nil)
	doc := strings.Replace(baseConfig, "trusted_proxies:", "client_ip_header: forwarded\ntrusted_proxies:", 1)
	g := startGateway(t, doc, map[string]string{"UP": up.URL, "DEAD": closedPort(t), "TRUSTED": `"127.0.0.1/32"`})
	resp, _ := g.get("/v1/accounts",
		"Forwarded", `for=203.0.113.9;proto=http, for="[2001:db8::7]:4711"`,
		"Forwarded", `for=10.9.9.9;by=_lb`,
		"X-Forwarded-For", "6.6.6.6") // not the configured header: ignored
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	in := up.lastRequest()
	// 10.9.9.9 is not trusted, so it is the client (the nearest untrusted hop).
	want := map[string]string{
		"X-Forwarded-For": "203.0.113.9, 2001:db8::7, 10.9.9.9, 127.0.0.1",
		"Forwarded":       `for=10.9.9.9;host="` + strings.TrimPrefix(g.base, "https://") + `";proto=https`,
	}
	for k, v := range want {
		if got := strings.Join(in.Header.Values(k), " | "); got != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
	lines := g.accessLines()
	if ip := lines[len(lines)-1]["client_ip"]; ip != "10.9.9.9" {
		t.Errorf("logged client_ip = %v", ip)
	}
}

// A Forwarded header from a peer that is not a trusted proxy is neither
// believed nor passed on.
func TestUntrustedPeerForwarded(t *testing.T) {
	up := newUpstream(t, nil)
	doc := strings.Replace(baseConfig, "trusted_proxies:", "client_ip_header: forwarded\ntrusted_proxies:", 1)
	g := startGateway(t, doc, map[string]string{"UP": up.URL, "DEAD": closedPort(t), "TRUSTED": `"10.0.0.0/8"`})
	resp, _ := g.get("/v1/accounts", "Forwarded", "for=6.6.6.6", "X-Forwarded-For", "6.6.6.6")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	in := up.lastRequest()
	want := map[string]string{
		"X-Forwarded-For": "127.0.0.1",
		"Forwarded":       `for=127.0.0.1;host="` + strings.TrimPrefix(g.base, "https://") + `";proto=https`,
	}
	for k, v := range want {
		if got := strings.Join(in.Header.Values(k), " | "); got != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
	lines := g.accessLines()
	if ip := lines[len(lines)-1]["client_ip"]; ip != "127.0.0.1" {
		t.Errorf("logged client_ip = %v", ip)
	}
}
