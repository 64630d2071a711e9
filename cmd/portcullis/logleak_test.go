package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/pki"
)

// Secrets a client or an upstream puts where they do not belong. None may
// reach any output of the process.
const (
	leakPAN       = "4111111111111111"
	leakPANSpaced = "4111 1111 1111 1111"
	leakPANDashed = "4111-1111-1111-1111"
	leakAmex      = "378282246310005"
	leakOpaque    = "op4que-S3cret-t0ken-value"
	// A JWT short enough to be kept as a request id (64 characters).
	leakShortJWT = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2VjcmV0LXNpZ25hdHVyZQ"
	leakJWT      = "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhbGljZSIsInNjb3BlIjoiYWNjb3VudHM6cmVhZCJ9.U2lnbmF0dXJlU2VjcmV0Qnl0ZXNUaGF0TXVzdE5vdExlYWs"
)

// syncBuffer is the process's stderr: the server, its handlers and the
// standard library's log package write to it from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rawUpstream answers every connection with answer(conn) on a plain TCP
// listener: for upstreams that speak broken HTTP.
func rawUpstream(t *testing.T, answer func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					answer(c, br)
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestNoSecretReachesAnyLog runs the real serve command (gateway and admin
// API, as a process runs them) and sends card numbers and credentials
// through every request field and every error path, over HTTP/1.1 and
// HTTP/2, with upstreams that answer garbage and push unsolicited bytes on
// an idle connection. Then it reads every output the process wrote (its
// stderr with the application log and the standard library's lines, the
// access log file, the audit trail): no card number and no credential may
// be in any of them.
func TestNoSecretReachesAnyLog(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("leak test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "gateway", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := leaf.WriteFiles(dir, "gateway")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PORTCULLIS_PEPPER", randB64(40))
	t.Setenv("PORTCULLIS_MASTER_KEY", "v1:"+randB64(32))

	echo := rawUpstream(t, func(c net.Conn, _ *bufio.Reader) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	// Broken responses: the transport's error quotes them.
	garbage := rawUpstream(t, func(c net.Conn, _ *bufio.Reader) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Card "+leakPANSpaced+" Bearer "+leakOpaque+"\r\n\r\n")
	})
	notHTTP := rawUpstream(t, func(c net.Conn, _ *bufio.Reader) {
		_, _ = io.WriteString(c, leakPAN+" "+leakJWT+"\r\n\r\n")
		c.Close()
	})
	// A good answer, then bytes nobody asked for on the idle connection:
	// the forwarder logs them (the first bytes, as net/http's Transport
	// does through the standard log package).
	unsolicited := rawUpstream(t, func(c net.Conn, _ *bufio.Reader) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		time.Sleep(100 * time.Millisecond)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Card: "+leakPANSpaced+"\r\nAuthorization: Bearer "+leakOpaque+
			"\r\nSet-Cookie: sid="+leakOpaque+"\r\n\r\n{\"pan\":\""+leakPAN+"\",\"access_token\":\""+leakJWT+"\"}")
		time.Sleep(time.Second)
		c.Close()
	})

	accessLog := filepath.Join(dir, "access.log")
	cfgFile := filepath.Join(dir, "portcullis.yaml")
	// The test client is a trusted proxy, so the request ids it sends are
	// kept, logged, and must be masked there.
	cfgText := `
trusted_proxies: ["127.0.0.1"]
listeners:
  - name: public
    address: "127.0.0.1:0"
    tls: {cert_file: "` + certFile + `", key_file: "` + keyFile + `"}
ops:
  disabled: true
upstreams:
  - name: echo
    targets: ["` + echo + `"]
  - name: garbage
    targets: ["` + garbage + `"]
  - name: nothttp
    targets: ["` + notHTTP + `"]
  - name: unsolicited
    targets: ["` + unsolicited + `"]
routes:
  - {name: keyed, prefix: /v1, upstream: echo, auth: {authenticators: [keys]}}
  - {name: open, prefix: /open, upstream: echo, auth: none}
  - {name: get-only, prefix: /get-only, methods: [GET], upstream: echo, auth: none}
  - {name: small, prefix: /small, upstream: echo, auth: none, max_body_bytes: 1KiB}
  - {name: garbage, prefix: /garbage, upstream: garbage, auth: none}
  - {name: nothttp, prefix: /nothttp, upstream: nothttp, auth: none}
  - {name: unsolicited, prefix: /unsolicited, upstream: unsolicited, auth: none}
authenticators:
  - name: keys
    api_key: {}
rate_limits:
  brute_force: {enabled: false}
logging:
  level: debug
  access:
    output: ` + accessLog + `
    headers: [X-Card, Referer, Cookie, Authorization, X-Api-Key, X-Forwarded-For, Forwarded, X-Custom-Token, Dpop]
keys:
  store:
    path: "` + filepath.Join(dir, "keys.db") + `"
admin:
  enabled: true
  address: "127.0.0.1:0"
  auth_failure_threshold: 0
  tls: {cert_file: "` + certFile + `", key_file: "` + keyFile + `"}
`
	if err := os.WriteFile(cfgFile, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}

	// A real API key and admin token: the valid credentials must not leak
	// either.
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := keys.Open(context.Background(), cfg.Keys, os.LookupEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := func(action string) context.Context {
		return keys.WithAuditEvent(context.Background(), &audit.Event{Actor: "test", Role: "admin", Action: action, Outcome: audit.OutcomeSuccess})
	}
	consumer, err := svc.CreateConsumer(ev("consumer.create"), keys.ConsumerSpec{Name: "leaky"})
	if err != nil {
		t.Fatal(err)
	}
	issued, err := svc.IssueKey(ev("key.issue"), keys.KeySpec{ConsumerID: consumer.ID, Scopes: []string{"accounts:read"}})
	if err != nil {
		t.Fatal(err)
	}
	boot, err := svc.Bootstrap(context.Background(), "root")
	if err != nil {
		t.Fatal(err)
	}
	svc.Close()
	apiKey, adminToken := issued.Secret, boot.Secret
	basic := base64.StdEncoding.EncodeToString([]byte("alice:" + leakPAN))

	// serve points the standard logger and slog's default at its logger;
	// later tests get them back.
	prev := slog.Default()
	t.Cleanup(func() {
		slog.SetDefault(prev)
		slog.SetLogLoggerLevel(slog.LevelInfo)
		log.SetOutput(os.Stderr)
		log.SetFlags(log.LstdFlags)
	})
	stderr := &syncBuffer{}
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() { done <- serve(cfgFile, stderr, func() <-chan os.Signal { return sigs }) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			sigs <- syscall.SIGTERM
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("serve did not stop")
			}
		}
	}
	defer stop()
	gwAddr, adminAddr := waitListening(t, stderr, done)

	clients := map[string]*http.Client{
		"HTTP/1.1": {Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}},
		"HTTP/2": {Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}},
	}
	// Every field a client controls, each carrying a card number or a
	// credential.
	fullHeaders := http.Header{
		"X-Card":          {leakPANSpaced},
		"Referer":         {"https://shop.example/pay?pan=" + leakPAN + "&token=" + leakOpaque},
		"User-Agent":      {"agent/" + leakPANDashed + " Bearer " + leakOpaque},
		"Cookie":          {"sid=" + leakOpaque + "; pan=" + leakPAN},
		"X-Forwarded-For": {leakPAN},
		"Forwarded":       {"for=" + leakAmex},
		"X-Custom-Token":  {leakJWT},
		"Dpop":            {leakJWT},
		"X-Request-Id":    {leakPANDashed},
	}
	type leakCase struct {
		name, method, path, host string
		header                   http.Header
		body                     string
		status                   int // 0: any
	}
	gwCases := []leakCase{
		{name: "valid key, secrets everywhere", method: "POST", path: "/v1/cards/" + leakPANSpaced + "?" + leakPAN + "=1&card=" + leakAmex + "&access_token=" + leakJWT,
			header: merge(fullHeaders, http.Header{"X-Api-Key": {apiKey}}), body: `{"pan":"` + leakPAN + `"}`, status: 200},
		{name: "401 bearer", method: "GET", path: "/v1/x", header: merge(fullHeaders, http.Header{"Authorization": {"Bearer " + leakOpaque}}), status: 401},
		{name: "401 basic", method: "GET", path: "/v1/x", header: http.Header{"Authorization": {"Basic " + basic}}, status: 401},
		{name: "401 jwt", method: "GET", path: "/v1/x", header: http.Header{"Authorization": {"Bearer " + leakJWT}}, status: 401},
		{name: "401 forged key", method: "GET", path: "/v1/x", header: http.Header{"X-Api-Key": {apiKey[:len(apiKey)-3] + "abc"}}, status: 401},
		{name: "401 pan as key", method: "GET", path: "/v1/x", header: http.Header{"X-Api-Key": {leakPAN}}, status: 401},
		{name: "400 bad path", method: "GET", path: "/open/%2e%2e/" + leakPAN, header: fullHeaders, status: 400},
		{name: "404", method: "GET", path: "/nowhere/" + leakPAN + "?" + leakAmex, header: fullHeaders, status: 404},
		{name: "405", method: "DELETE", path: "/get-only/" + leakPAN, header: fullHeaders, status: 405},
		{name: "413", method: "POST", path: "/small/" + leakPAN, header: fullHeaders, body: strings.Repeat(leakPAN+" ", 200), status: 413},
		{name: "502 malformed header", method: "GET", path: "/garbage/" + leakPAN, header: fullHeaders, status: 502},
		{name: "502 not HTTP", method: "GET", path: "/nothttp/" + leakPAN, header: fullHeaders, status: 502},
		{name: "host is a card number", method: "GET", path: "/open/x", host: leakPAN, header: fullHeaders},
		{name: "host with a credential", method: "GET", path: "/open/x", host: leakShortJWT, header: fullHeaders},
		{name: "method is a card number", method: leakPAN, path: "/open/x", header: fullHeaders},
		{name: "method is a key", method: apiKey, path: "/open/x", header: fullHeaders},
		{name: "method is a JWT", method: leakJWT, path: "/open/x", header: fullHeaders},
		{name: "request id is a JWT", method: "GET", path: "/open/x", header: http.Header{"X-Request-Id": {leakShortJWT}}},
		{name: "request id is a card number", method: "GET", path: "/open/x", header: http.Header{"X-Request-Id": {leakPAN}}},
	}
	adminCases := []leakCase{
		{name: "admin 401 bearer", method: "GET", path: "/v1/consumers/" + leakPAN, header: merge(fullHeaders, http.Header{"Authorization": {"Bearer " + leakOpaque}}), status: 401},
		{name: "admin 401 pan", method: "GET", path: "/v1/consumers", header: http.Header{"Authorization": {"Bearer " + leakPAN}}, status: 401},
		{name: "admin 401 jwt", method: "GET", path: "/v1/consumers", header: http.Header{"Authorization": {"Bearer " + leakJWT}}, status: 401},
		{name: "admin 401 forged token", method: "GET", path: "/v1/consumers", header: http.Header{"Authorization": {"Bearer " + adminToken[:len(adminToken)-3] + "abc"}}, status: 401},
		{name: "admin 401 basic", method: "GET", path: "/v1/consumers", header: http.Header{"Authorization": {"Basic " + basic}}, status: 401},
		{name: "admin 404 path", method: "GET", path: "/v1/" + leakPANSpaced + "?card=" + leakPAN, header: merge(fullHeaders, bearerHeader(adminToken)), status: 404},
		{name: "admin 404 id", method: "GET", path: "/v1/consumers/" + leakPAN, header: merge(fullHeaders, bearerHeader(adminToken)), status: 404},
		{name: "admin 405", method: "PUT", path: "/v1/consumers", header: merge(fullHeaders, bearerHeader(adminToken)), body: "{}", status: 405},
		{name: "admin method is a card number", method: leakPAN, path: "/v1/consumers", header: merge(fullHeaders, bearerHeader(adminToken)), status: 405},
		{name: "admin 400 unknown field", method: "POST", path: "/v1/consumers", header: merge(fullHeaders, bearerHeader(adminToken), http.Header{"Content-Type": {"application/json"}}),
			body: `{"name":"` + leakPAN + `","` + leakPAN + `":"` + leakJWT + `"}`, status: 400},
		{name: "admin 400 bad json", method: "POST", path: "/v1/consumers", header: merge(fullHeaders, bearerHeader(adminToken), http.Header{"Content-Type": {"application/json"}}),
			body: leakPAN + " " + leakOpaque, status: 400},
		{name: "admin 415", method: "POST", path: "/v1/consumers", header: merge(fullHeaders, bearerHeader(adminToken), http.Header{"Content-Type": {"text/" + leakPAN}}), body: "x", status: 415},
		{name: "admin 413", method: "POST", path: "/v1/consumers", header: merge(fullHeaders, bearerHeader(adminToken), http.Header{"Content-Type": {"application/json"}}),
			body: `{"name":"` + strings.Repeat(leakPAN, 5000) + `"}`, status: 413},
		{name: "admin host is a card number", method: "GET", path: "/v1/whoami", host: leakPAN, header: merge(fullHeaders, bearerHeader(adminToken)), status: 200},
	}
	send := func(t *testing.T, c *http.Client, base string, tc leakCase) {
		req, err := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range tc.header {
			req.Header[k] = vs
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if tc.status != 0 && resp.StatusCode != tc.status {
			t.Fatalf("status = %d, want %d", resp.StatusCode, tc.status)
		}
	}
	for proto, c := range clients {
		for _, tc := range gwCases {
			t.Run(proto+"/"+tc.name, func(t *testing.T) { send(t, c, "https://"+gwAddr, tc) })
		}
		for _, tc := range adminCases {
			t.Run(proto+"/"+tc.name, func(t *testing.T) { send(t, c, "https://"+adminAddr, tc) })
		}
	}
	// The audit trail is an output too.
	auditReq, _ := http.NewRequest("GET", "https://"+adminAddr+"/v1/audit?limit=500", nil)
	auditReq.Header.Set("Authorization", "Bearer "+adminToken)
	auditResp, err := clients["HTTP/2"].Do(auditReq)
	if err != nil {
		t.Fatal(err)
	}
	auditBody, _ := io.ReadAll(auditResp.Body)
	auditResp.Body.Close()
	if auditResp.StatusCode != 200 {
		t.Fatalf("audit: %d %s", auditResp.StatusCode, auditBody)
	}

	// Once: the upstream side is HTTP/1.1 whatever the client speaks. The
	// direct exchange finds the unsolicited bytes when it next takes the
	// connection (the upstream writes them 100 ms after its answer), and
	// logs them; the request goes on a new connection.
	unsolicitedCase := leakCase{method: "GET", path: "/unsolicited/" + leakPAN, header: fullHeaders, status: 200}
	send(t, clients["HTTP/2"], "https://"+gwAddr, unsolicitedCase)
	time.Sleep(300 * time.Millisecond)
	send(t, clients["HTTP/2"], "https://"+gwAddr, unsolicitedCase)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "Unsolicited response") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	access, err := os.ReadFile(accessLog)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{"stderr": stderr.String(), "access log": string(access), "audit trail": string(auditBody)}

	// Each path really logged (masked), so the search below means
	// something.
	var unsolicitedLine map[string]any
	for _, line := range strings.Split(strings.TrimSpace(outputs["stderr"]), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("stderr line is not JSON (not from the logger): %q", line)
			continue
		}
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, "Unsolicited response") {
			unsolicitedLine = m
		}
	}
	if unsolicitedLine == nil || unsolicitedLine["level"] != "WARN" || !strings.Contains(unsolicitedLine["msg"].(string), "**** **** **** 1111") {
		t.Errorf("the transport's unsolicited-response line is missing, not at warn or not masked: %v", unsolicitedLine)
	}
	for _, want := range []string{`"request_id":"****-****-****-1111"`, `"host":"************1111"`, `"method":"************1111"`,
		`"status":502`, `"status":413`, `"status":405`, `"status":404`, `"status":400`, `"status":401`, `"path":"/v1/cards/**** **** **** 1111"`} {
		if !strings.Contains(outputs["access log"], want) {
			t.Errorf("access log has no %s", want)
		}
	}
	// The admin API never keeps a client's request id, so only the path
	// carries the card number there.
	for _, want := range []string{`"msg":"admin request"`, `"path":"/v1/**** **** **** 1111"`} {
		if !strings.Contains(outputs["stderr"], want) {
			t.Errorf("admin log has no %s", want)
		}
	}

	secrets := map[string]string{
		"card number": leakPAN, "spaced card number": leakPANSpaced, "dashed card number": leakPANDashed, "amex": leakAmex,
		"card number in %20 form": strings.ReplaceAll(leakPANSpaced, " ", "%20"), "card number in + form": strings.ReplaceAll(leakPANSpaced, " ", "+"),
		"opaque token": leakOpaque, "short JWT": leakShortJWT, "JWT signature": leakJWT[strings.LastIndexByte(leakJWT, '.'):],
		"JWT payload": strings.Split(leakJWT, ".")[1], "basic credentials": basic,
		"API key secret": apiKey[len("pcl_live_")+13:], "admin token secret": adminToken[len("pcl_admin_")+13:],
	}
	for where, out := range outputs {
		for what, secret := range secrets {
			if i := strings.Index(out, secret); i >= 0 {
				lo, hi := strings.LastIndexByte(out[:i], '\n')+1, i+len(secret)+200
				t.Errorf("%s: %s found: ...%s...", where, what, out[lo:min(hi, len(out))])
			}
		}
	}
}

// waitListening reads the listening lines of the gateway and the admin
// API from the log.
func waitListening(t *testing.T, stderr *syncBuffer, done <-chan int) (gateway, admin string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		default:
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			var m struct{ Msg, Listener, Address string }
			if json.Unmarshal([]byte(line), &m) != nil || m.Msg != "listening" {
				continue
			}
			switch m.Listener {
			case "public":
				gateway = m.Address
			case "admin":
				admin = m.Address
			}
		}
		if gateway != "" && admin != "" {
			return gateway, admin
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("not listening:\n%s", stderr.String())
	return "", ""
}

func merge(hs ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range hs {
		for k, vs := range h {
			out[k] = vs
		}
	}
	return out
}

func bearerHeader(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
