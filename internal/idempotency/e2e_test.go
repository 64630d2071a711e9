package idempotency_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/idempotency"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/sharedstate"
)

// payments is an upstream that books payments: it counts every request it
// receives per Idempotency-Key, and misbehaves on request by path.
type payments struct {
	mu      sync.Mutex
	count   map[string]int
	hold    chan struct{} // /v1/hold waits for it
	holding chan struct{} // signalled when /v1/hold arrived
	seq     atomic.Int64
}

func newPayments() *payments {
	return &payments{count: map[string]int{}, hold: make(chan struct{}), holding: make(chan struct{}, 1)}
}

func (p *payments) booked(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count[key]
}

func (p *payments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.count[r.Header.Get("Idempotency-Key")]++
	p.mu.Unlock()
	switch {
	case strings.HasSuffix(r.URL.Path, "/fail"):
		http.Error(w, "ledger unavailable", http.StatusInternalServerError)
		return
	case strings.HasSuffix(r.URL.Path, "/slow"):
		time.Sleep(2 * time.Second)
	case strings.HasSuffix(r.URL.Path, "/big"):
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(make([]byte, 4096))
		return
	case strings.HasSuffix(r.URL.Path, "/hold"):
		p.holding <- struct{}{}
		<-p.hold
	}
	id := p.seq.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Location", "/v1/payments/pay_"+strconv.FormatInt(id, 10))
	w.Header().Set("Set-Cookie", "upstream=1")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "pay_" + strconv.FormatInt(id, 10), "amount": string(body)})
}

// clients returns an HTTP/1.1 and an HTTP/2 client trusting env's CA.
func clients(env *gatewaytest.Env) map[string]*http.Client {
	tc := &tls.Config{RootCAs: env.CA.Pool(), MinVersion: tls.VersionTLS12}
	return map[string]*http.Client{
		"HTTP/1.1": {Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc.Clone(),
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}},
		"HTTP/2.0": {Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc.Clone(), ForceAttemptHTTP2: true}},
	}
}

// freePort is a loopback port nothing listens on (yet).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

type fixture struct {
	env     *gatewaytest.Env
	gw      *gatewaytest.Gateway
	up      *payments
	keyA    string // API key of consumer A
	keyB    string // API key of consumer B
	downURL string // the "down" upstream's address (nothing listens until a test starts it)
	shared  sharedstate.Store
	admin   *idempotency.Admin
	consA   string
}

const routesYAML = `
authenticators:
  - name: keys
    api_key: {}
upstreams:
  - name: ledger
    targets: ["%s"]
  - name: down
    targets: ["http://%s"]
    retries: 0
routes:
  - name: payments
    prefix: /v1
    methods: [POST, GET]
    upstream: ledger
    timeout: 500ms
    auth: {authenticators: [keys]}
    idempotency: {required: true, max_response_bytes: 1KiB}
  - name: limited
    prefix: /limited
    methods: [POST]
    upstream: ledger
    auth: {authenticators: [keys]}
    idempotency: {required: true}
    rate_limits: [one-per-minute]
  - name: dial
    prefix: /dial
    methods: [POST]
    upstream: down
    auth: {authenticators: [keys]}
    idempotency: {required: true}
rate_limits:
  policies:
    - {name: one-per-minute, key: [consumer], rate: {limit: 1, period: 1m}}
keys:
  store: {path: unused.db}
`

func newFixture(t *testing.T, shared sharedstate.Store) *fixture {
	t.Helper()
	f := &fixture{env: gatewaytest.NewEnv(t), up: newPayments(), downURL: freePort(t)}
	up := httptest.NewServer(f.up)
	t.Cleanup(up.Close)
	t.Cleanup(func() { close(f.up.hold) })
	svc := keystest.Service(t, keystest.SQLite(t), keystest.NewSecrets(t), keys.Options{})
	a, b := keystest.Consumer(t, svc, "acme"), keystest.Consumer(t, svc, "other")
	f.consA = a.ID
	f.keyA, f.keyB = keystest.Key(t, svc, a.ID).Secret, keystest.Key(t, svc, b.ID).Secret
	if shared == nil {
		m, err := sharedstate.NewMemory(1000, sharedstate.MemoryOptions{Limits: sharedstate.Limits{MaxMetaBytes: 256, MaxValueBytes: 1 << 20}})
		if err != nil {
			t.Fatal(err)
		}
		shared = m
	}
	f.shared, f.admin = shared, idempotency.NewAdmin(shared, nil)
	yaml := strings.Replace(f.env.Base("none"), "upstreams:\n  - name: echo\n    targets: [\""+f.env.Upstream+"\"]\n", "", 1) +
		fmt.Sprintf(routesYAML, up.URL, f.downURL)
	f.gw = f.env.Start(t, yaml, gateway.Deps{Log: slog.New(slog.DiscardHandler), Keys: svc, Shared: shared})
	return f
}

// do sends a POST with an API key, an optional Idempotency-Key and body.
func (f *fixture) do(t *testing.T, c *http.Client, apiKey, path, key, body string) gatewaytest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.gw.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", apiKey)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return gatewaytest.Do(t, c, req)
}

func problemType(t *testing.T, r gatewaytest.Response) string {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want problem+json: %s", ct, r.Body)
	}
	return strings.TrimPrefix(r.Problem(t)["type"].(string), "https://portcullis.dev/problems/")
}

// The attack table of idempotency, through the real TLS gateway over
// HTTP/1.1 and HTTP/2.
func TestIdempotencyEndToEnd(t *testing.T) {
	f := newFixture(t, nil)
	for proto, c := range clients(f.env) {
		t.Run(proto, func(t *testing.T) {
			key := func(name string) string { return proto + "-" + name }
			t.Run("replay", func(t *testing.T) {
				first := f.do(t, c, f.keyA, "/v1/pay", key("replay"), `{"amount":"10.00"}`)
				if first.Status != 201 || first.Header.Get(idempotency.ReplayHeader) != "" {
					t.Fatalf("first: %d %v %s", first.Status, first.Header, first.Body)
				}
				again := f.do(t, c, f.keyA, "/v1/pay", key("replay"), `{"amount":"10.00"}`)
				if again.Status != 201 || again.Header.Get(idempotency.ReplayHeader) != "true" || string(again.Body) != string(first.Body) ||
					again.Header.Get("Location") != first.Header.Get("Location") || again.Header.Get("Content-Type") != "application/json" ||
					again.Header.Get("Set-Cookie") != "" || again.Header.Get("X-Request-Id") == first.Header.Get("X-Request-Id") {
					t.Fatalf("replay: %d %v %s\nfirst %v %s", again.Status, again.Header, again.Body, first.Header, first.Body)
				}
				// The key is the draft's Structured Field string, or the bare
				// token of Stripe-style clients: the same key.
				quoted := f.do(t, c, f.keyA, "/v1/pay", `"`+key("replay")+`"`, `{"amount":"10.00"}`)
				if quoted.Status != 201 || quoted.Header.Get(idempotency.ReplayHeader) != "true" {
					t.Fatalf("quoted key: %d %s", quoted.Status, quoted.Body)
				}
				if n := f.up.booked(key("replay")); n != 1 {
					t.Fatalf("upstream saw %d requests, want 1", n)
				}
			})
			t.Run("422 another request with the key", func(t *testing.T) {
				f.do(t, c, f.keyA, "/v1/pay", key("mismatch"), `{"amount":"10.00"}`)
				for name, tc := range map[string]struct{ path, body string }{
					"body": {"/v1/pay", `{"amount":"99.00"}`},
					"path": {"/v1/pay2", `{"amount":"10.00"}`},
				} {
					r := f.do(t, c, f.keyA, tc.path, key("mismatch"), tc.body)
					if r.Status != 422 || problemType(t, r) != "idempotency-key-mismatch" {
						t.Fatalf("%s changed: %d %s", name, r.Status, r.Body)
					}
				}
				if n := f.up.booked(key("mismatch")); n != 1 {
					t.Fatalf("upstream saw %d requests, want 1", n)
				}
			})
			t.Run("400 missing or malformed", func(t *testing.T) {
				for _, tc := range []struct{ key, want string }{
					{"", "idempotency-key-missing"},
					{"has space", "idempotency-key-invalid"},
					{strings.Repeat("k", 256), "idempotency-key-invalid"},
				} {
					r := f.do(t, c, f.keyA, "/v1/pay", tc.key, `{}`)
					if r.Status != 400 || problemType(t, r) != tc.want {
						t.Fatalf("key %q: %d %s", tc.key, r.Status, r.Body)
					}
				}
			})
			t.Run("409 in flight", func(t *testing.T) {
				done := make(chan gatewaytest.Response, 1)
				go func() { done <- f.do(t, c, f.keyA, "/v1/hold", key("flight"), `{}`) }()
				<-f.up.holding
				r := f.do(t, c, f.keyA, "/v1/hold", key("flight"), `{}`)
				if r.Status != 409 || problemType(t, r) != "idempotency-key-in-flight" || r.Header.Get("Retry-After") != "1" {
					t.Fatalf("while in flight: %d %v %s", r.Status, r.Header, r.Body)
				}
				f.up.hold <- struct{}{}
				if first := <-done; first.Status != 201 {
					t.Fatalf("the first request: %d %s", first.Status, first.Body)
				}
				if r := f.do(t, c, f.keyA, "/v1/hold", key("flight"), `{}`); r.Status != 201 || r.Header.Get(idempotency.ReplayHeader) != "true" {
					t.Fatalf("after it completed: %d %s", r.Status, r.Body)
				}
				if n := f.up.booked(key("flight")); n != 1 {
					t.Fatalf("upstream saw %d requests, want 1", n)
				}
			})
			for _, tc := range []struct {
				name, path string
				status     int
				reason     string
			}{
				{"in doubt after a 5xx", "/v1/fail", 500, idempotency.ReasonUpstream5xx},
				{"in doubt after a timeout", "/v1/slow", 504, idempotency.ReasonTimeout},
				{"in doubt when the answer is too large to store", "/v1/big", 201, idempotency.ReasonTooLarge},
			} {
				t.Run(tc.name, func(t *testing.T) {
					k := key(strings.ReplaceAll(tc.name, " ", "-"))
					if r := f.do(t, c, f.keyA, tc.path, k, `{}`); r.Status != tc.status {
						t.Fatalf("first: %d %s", r.Status, r.Body)
					}
					for range 2 {
						r := f.do(t, c, f.keyA, tc.path, k, `{}`)
						if r.Status != 409 || problemType(t, r) != "idempotency-key-in-doubt" || r.Problem(t)["reason"] != tc.reason {
							t.Fatalf("retry: %d %s", r.Status, r.Body)
						}
					}
					if n := f.up.booked(k); n != 1 {
						t.Fatalf("upstream saw %d requests, want 1", n)
					}
				})
			}
			t.Run("an operator releases a key in doubt", func(t *testing.T) {
				k := key("resolved")
				f.do(t, c, f.keyA, "/v1/fail", k, `{}`)
				if _, err := f.admin.Resolve(context.Background(), idempotency.KeyRef{Consumer: f.consA, Key: k},
					idempotency.Resolution{Outcome: idempotency.OutcomeNotProcessed}); err != nil {
					t.Fatal(err)
				}
				if r := f.do(t, c, f.keyA, "/v1/pay", k, `{}`); r.Status != 201 || r.Header.Get(idempotency.ReplayHeader) != "" {
					t.Fatalf("after release: %d %s", r.Status, r.Body)
				}
			})
			t.Run("keys are scoped per consumer", func(t *testing.T) {
				k := key("shared-name")
				a := f.do(t, c, f.keyA, "/v1/pay", k, `{"amount":"1"}`)
				b := f.do(t, c, f.keyB, "/v1/pay", k, `{"amount":"2"}`)
				if a.Status != 201 || b.Status != 201 || b.Header.Get(idempotency.ReplayHeader) != "" || string(a.Body) == string(b.Body) {
					t.Fatalf("A %d %s, B %d %s", a.Status, a.Body, b.Status, b.Body)
				}
				if n := f.up.booked(k); n != 2 {
					t.Fatalf("upstream saw %d requests, want one per consumer", n)
				}
			})
		})
	}
}

// A connect failure is the one failure that provably never reached the
// upstream: the key is released, and the retry is forwarded.
func TestIdempotencyReleasedAfterDialFailure(t *testing.T) {
	f := newFixture(t, nil)
	for proto, c := range clients(f.env) {
		t.Run(proto, func(t *testing.T) {
			k := proto + "-dial"
			r := f.do(t, c, f.keyA, "/dial/pay", k, `{"amount":"5"}`)
			if r.Status != 502 || problemType(t, r) != "bad-gateway" {
				t.Fatalf("with the upstream down: %d %s", r.Status, r.Body)
			}
			if _, err := f.admin.Inspect(context.Background(), idempotency.KeyRef{Consumer: f.consA, Key: k}); err != idempotency.ErrNoKey {
				t.Fatalf("the key after a dial failure: %v, want released", err)
			}
			ln, err := net.Listen("tcp", f.downURL)
			if err != nil {
				t.Skipf("the port was taken meanwhile: %v", err)
			}
			srv := &http.Server{Handler: f.up}
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			if r := f.do(t, c, f.keyA, "/dial/pay", k, `{"amount":"5"}`); r.Status != 201 || r.Header.Get(idempotency.ReplayHeader) != "" {
				t.Fatalf("the retry once the upstream is up: %d %s", r.Status, r.Body)
			}
			if n := f.up.booked(k); n != 1 {
				t.Fatalf("upstream saw %d requests, want 1", n)
			}
		})
	}
}

// Replays do not count against rate limits: a client that retries after a
// timeout gets its answer, not 429, while a new operation is limited.
func TestReplaysAreNotRateLimited(t *testing.T) {
	f := newFixture(t, nil)
	c := clients(f.env)["HTTP/2.0"]
	if r := f.do(t, c, f.keyA, "/limited/pay", "once", `{}`); r.Status != 201 {
		t.Fatalf("first: %d %s", r.Status, r.Body)
	}
	for i := range 3 {
		if r := f.do(t, c, f.keyA, "/limited/pay", "once", `{}`); r.Status != 201 || r.Header.Get(idempotency.ReplayHeader) != "true" {
			t.Fatalf("retry %d: %d %s", i, r.Status, r.Body)
		}
	}
	if r := f.do(t, c, f.keyA, "/limited/pay", "another", `{}`); r.Status != 429 {
		t.Fatalf("a new operation past the limit: %d %s", r.Status, r.Body)
	}
	// A different request under a completed key is refused without the
	// upstream, and not counted either.
	if r := f.do(t, c, f.keyA, "/limited/pay", "once", `{"other":1}`); r.Status != 422 {
		t.Fatalf("another request under the key: %d %s", r.Status, r.Body)
	}
	if n := f.up.booked("once"); n != 1 {
		t.Fatalf("upstream saw %d requests, want 1", n)
	}
}
