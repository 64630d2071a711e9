package server_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// readingUpstream reads the whole request body before answering, so a body
// that breaks off fails the exchange instead of racing an early answer. It
// counts the GETs it answers in gets (the failed requests of a test may
// reach it after the gateway answered them).
func readingUpstream(t *testing.T, gets *atomic.Int64) *upstream {
	return newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		if r.Method == http.MethodGet {
			gets.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
}

func readyz(t *testing.T, g *gw) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + g.srv.Addr("ops") + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Requests whose failure the client caused (a body shorter than its
// declared length over HTTP/2, or over HTTP/1.1 followed by a close; an
// invalid HTTP/2 :method) never count against the upstream: after five of
// each, the only target still serves and /readyz stays ready; with two
// targets and a hair-trigger ratio, neither is ejected (round-robin still
// alternates). HTTP/1.1 has no equivalent of the invalid method: net/http
// refuses the request line itself.
func TestClientFailuresNeverEjectTheUpstream(t *testing.T) {
	cases := []struct {
		name string
		// send makes one such request and returns the status the client
		// saw and the body's problem type (0, "" when it left; the access
		// log then says 499).
		send       func(t *testing.T, g *gw, c *h2conn) (int, string)
		wantStatus int
		wantType   string
	}{
		{name: "HTTP/2 body shorter than content-length", wantStatus: 400, wantType: "unreadable-body",
			send: func(t *testing.T, g *gw, c *h2conn) (int, string) {
				st, body := c.exchange([][2]string{{":method", "POST"}, {":scheme", "https"}, {":authority", "127.0.0.1"},
					{":path", "/v1/pay"}, {"content-type", "application/json"}, {"content-length", "100"}}, []byte(`{"amount":1`))
				return st, problemType(t, body)
			}},
		// The router refuses methods outside the registered set before
		// anything is forwarded.
		{name: "HTTP/2 invalid :method", wantStatus: 405, wantType: "method-not-allowed",
			send: func(t *testing.T, g *gw, c *h2conn) (int, string) {
				st, body := c.exchange([][2]string{{":method", "GET X"}, {":scheme", "https"}, {":authority", "127.0.0.1"},
					{":path", "/v1/pay"}}, nil)
				return st, problemType(t, body)
			}},
		{name: "HTTP/1.1 body shorter than Content-Length, then close", wantStatus: 0,
			send: func(t *testing.T, g *gw, _ *h2conn) (int, string) {
				conn := dialH1(t, g)
				_, _ = io.WriteString(conn, "POST /v1/pay HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"amount\":1")
				conn.Close()
				return 0, ""
			}},
	}
	shapes := []struct {
		name    string
		targets int
		extra   string
	}{
		{name: "one target, default passive_ejection", targets: 1},
		{name: "two targets, any failure ratio ejects", targets: 2, extra: `
    passive_ejection:
      min_requests: 2
      failure_ratio: 0.1`},
	}
	for _, shape := range shapes {
		for _, tc := range cases {
			t.Run(shape.name+"/"+tc.name, func(t *testing.T) {
				gets := make([]atomic.Int64, shape.targets)
				urls := make([]string, shape.targets)
				for i := range gets {
					urls[i] = `"` + readingUpstream(t, &gets[i]).URL + `"`
				}
				g := startGateway(t, `
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
    targets: [`+strings.Join(urls, ", ")+`]`+shape.extra+`
routes:
  - name: all
    prefix: /
    upstream: api
    auth: none
logging:
  access:
    output: "{{ACCESS}}"
    flush_interval: 50ms
`, nil)
				c := dialGW(t, g)
				for i := range 5 {
					st, typ := tc.send(t, g, c)
					if st != tc.wantStatus || typ != tc.wantType {
						t.Fatalf("request %d: %d %q, want %d %q", i+1, st, typ, tc.wantStatus, tc.wantType)
					}
				}
				if tc.wantStatus == 0 {
					// The gateway finishes each abandoned request on its own
					// time; wait (bounded) until all five are logged as such.
					for i := 0; strings.Count(readAccess(g), `"status":499`) < 5; i++ {
						if i == 200 {
							t.Fatalf("abandoned requests not logged as 499:\n%s", readAccess(g))
						}
						time.Sleep(25 * time.Millisecond)
					}
				}
				for i := range 4 {
					resp, body := g.get("/v1/accounts")
					if resp.StatusCode != 200 || body != `{"ok":true}` {
						t.Fatalf("normal request %d after the failures: %d %s", i+1, resp.StatusCode, body)
					}
				}
				for i := range gets {
					if n := gets[i].Load(); n != int64(4/len(gets)) {
						t.Errorf("target %d served %d of 4 normal requests, want %d (ejected?)", i, n, 4/len(gets))
					}
				}
				if code, body := readyz(t, g); code != 200 || body != `{"status":"ready"}`+"\n" {
					t.Fatalf("/readyz = %d %s", code, body)
				}
			})
		}
	}
}

// Upstream 502/503/504 answers are failures, but the only target is never
// ejected: every request still reaches it (the client sees the upstream's
// own answer, not no-healthy-upstream) and /readyz stays ready.
func TestOnlyTargetIsNeverEjected(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "maintenance")
	})
	g := startGateway(t, gatewayHead+`routes:
  - name: all
    prefix: /
    upstream: api
    auth: none
logging:
  access:
    enabled: false
`, map[string]string{"UP": up.URL})
	for _, p := range protocols(g) {
		t.Run(p.name, func(t *testing.T) {
			before := up.hits.Load()
			for i := range 25 { // more than min_requests (20), all failed
				req, _ := http.NewRequest("GET", g.base+"/v1/x", nil)
				resp, err := p.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 503 || string(b) != "maintenance" {
					t.Fatalf("request %d: %d %q, want the upstream's 503", i+1, resp.StatusCode, b)
				}
			}
			if n := up.hits.Load() - before; n != 25 {
				t.Fatalf("the target served %d of 25", n)
			}
			if code, body := readyz(t, g); code != 200 {
				t.Fatalf("/readyz = %d %s", code, body)
			}
		})
	}
}

// With two targets, one answering 503 to everything is ejected on the
// failure ratio (defaults: half of at least 20 in 10s), and the other takes
// every request.
func TestFailingTargetIsEjected(t *testing.T) {
	bad := newUpstream(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	good := newUpstream(t, nil)
	g := startGateway(t, gatewayHead+`  - name: pair
    targets: ["{{BAD}}", "{{GOOD}}"]
routes:
  - name: all
    prefix: /
    upstream: pair
    auth: none
logging:
  access:
    enabled: false
`, map[string]string{"UP": good.URL, "BAD": bad.URL, "GOOD": good.URL})
	for range 40 {
		_, _ = g.get("/v1/x")
	}
	if n := bad.hits.Load(); n != 20 {
		t.Fatalf("the failing target served %d requests, want 20 (ejected at min_requests)", n)
	}
	before := good.hits.Load()
	for i := range 10 {
		if resp, body := g.get("/v1/x"); resp.StatusCode != 200 {
			t.Fatalf("request %d after the ejection: %d %s", i+1, resp.StatusCode, body)
		}
	}
	if n := good.hits.Load() - before; n != 10 || bad.hits.Load() != 20 {
		t.Fatalf("good served %d of 10, bad %d in all", n, bad.hits.Load())
	}
}

// A target that was down for a second is back as soon as the active health
// check sees it healthy, not when eject_for (30s) runs out.
func TestHealthCheckEndsEjection(t *testing.T) {
	var hitsA atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" { // requests, not the checks
			hitsA.Add(1)
		}
		_, _ = io.WriteString(w, "a")
	})
	lnA := listen(t)
	addrA := lnA.Addr().String()
	srvA := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srvA.Serve(lnA) }()
	b := newUpstream(t, nil)
	// The check's unhealthy_threshold is out of reach: only passive
	// ejection takes A out, and only the check's success may end it early.
	g := startGateway(t, `
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
    targets: ["http://`+addrA+`", "{{B}}"]
    retries: 0
    health_check:
      path: /healthz
      interval: 100ms
      timeout: 50ms
      unhealthy_threshold: 1000
routes:
  - name: all
    prefix: /
    upstream: api
    auth: none
logging:
  access:
    enabled: false
`, map[string]string{"B": b.URL})

	srvA.Close() // A goes down
	// Until A is ejected, every other request fails on it; once it is,
	// B serves them all.
	streak := 0
	for i := 0; streak < 6; i++ {
		if i == 100 {
			t.Fatal("A was never ejected")
		}
		if resp, _ := g.get("/v1/x"); resp.StatusCode == 200 {
			streak++
		} else {
			streak = 0
		}
	}

	time.Sleep(time.Second) // the outage
	lnA2, err := net.Listen("tcp", addrA)
	if err != nil {
		t.Fatal(err)
	}
	srvA2 := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srvA2.Serve(lnA2) }()
	t.Cleanup(func() { srvA2.Close() })

	before := hitsA.Load()
	deadline := time.Now().Add(5 * time.Second) // far below eject_for (30s)
	for hitsA.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("A got no traffic 5s after it came back")
		}
		if resp, body := g.get("/v1/x"); resp.StatusCode != 200 {
			t.Fatalf("request while A is back: %d %s", resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The first request to a dead backend is answered 502 bad-gateway (the
// retry found no other target) with the cause in the access log, not 503
// no-healthy-upstream without one.
func TestDeadBackendIsBadGatewayWithCause(t *testing.T) {
	g := startGateway(t, gatewayHead+`routes:
  - name: all
    prefix: /
    upstream: api
    auth: none
logging:
  access:
    output: "{{ACCESS}}"
    flush_interval: 50ms
`, map[string]string{"UP": "http://" + closedPort(t)})
	for _, p := range protocols(g) {
		t.Run(p.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", g.base+"/v1/x", nil)
			resp, err := p.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 502 || problemType(t, string(b)) != "bad-gateway" || resp.Header.Get("Retry-After") != "" {
				t.Fatalf("got %d %s (Retry-After %q), want 502 bad-gateway", resp.StatusCode, b, resp.Header.Get("Retry-After"))
			}
			rid := resp.Header.Get("X-Request-Id")
			line := g.waitAccessLine(func(m map[string]any) bool { return m["request_id"] == rid })
			if line["status"] != float64(502) || !strings.Contains(line["error"].(string), "connection refused") {
				t.Fatalf("access log: status %v, error %q; want 502 with the connect error", line["status"], line["error"])
			}
		})
	}
}
