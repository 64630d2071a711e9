package ratelimit

import (
	"github.com/portcullis/portcullis/internal/testenv"
	"net/http"
	"strings"
	"testing"
	"time"
)

const problemCT = "application/problem+json"

func TestRateLimitResponses(t *testing.T) {
	clock := testenv.NewClock(base)
	cfg := parseConfig(t, `
policies:
  - name: ip
    key: [client_ip]
    rate: {limit: 2, period: 10s}
`, "rate_limits: [ip]")
	h := newHarness(t, cfg, memoryStores(t, clock), "r1")

	type want struct {
		status           int
		policy, limit    string
		retryAfter, body string
	}
	steps := []struct {
		name    string
		advance time.Duration
		want    want
	}{
		{"first", 0, want{200, `"ip";q=2;w=10`, `"ip";r=1;t=5`, "", "ok"}},
		{"second", 0, want{200, `"ip";q=2;w=10`, `"ip";r=0;t=10`, "", "ok"}},
		{"third is limited", 0, want{429, `"ip";q=2;w=10`, `"ip";r=0;t=10`, "5",
			`{"type":"https://portcullis.dev/problems/rate-limited","title":"Too Many Requests","status":429,"detail":"The rate limit for this client has been reached.","request_id":"req-1"}` + "\n"}},
		{"still limited 1s early", 4 * time.Second, want{429, `"ip";q=2;w=10`, `"ip";r=0;t=6`, "1",
			`{"type":"https://portcullis.dev/problems/rate-limited","title":"Too Many Requests","status":429,"detail":"The rate limit for this client has been reached.","request_id":"req-1"}` + "\n"}},
		{"one refilled at 5s", time.Second, want{200, `"ip";q=2;w=10`, `"ip";r=0;t=10`, "", "ok"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			clock.Advance(s.advance)
			got := h.do(t, "GET", "/r1", nil)
			if got.status != s.want.status || got.body != s.want.body {
				t.Fatalf("status %d body %q; want %d %q", got.status, got.body, s.want.status, s.want.body)
			}
			for k, v := range map[string]string{"RateLimit-Policy": s.want.policy, "RateLimit": s.want.limit, "Retry-After": s.want.retryAfter} {
				if g := got.header.Get(k); g != v {
					t.Errorf("%s = %q, want %q", k, g, v)
				}
			}
			if s.want.status == 429 && got.header.Get("Content-Type") != problemCT {
				t.Errorf("Content-Type = %q", got.header.Get("Content-Type"))
			}
			if got.header.Get("X-RateLimit-Limit") != "" {
				t.Errorf("legacy headers sent without legacy_headers")
			}
		})
	}
	// Another client IP has its own limit.
	if got := h.do(t, "GET", "/r1", map[string]string{"X-Test-IP": "198.51.100.9"}); got.status != 200 {
		t.Fatalf("other client limited: %d", got.status)
	}
}

func TestQuotaAndRateAreDistinguishable(t *testing.T) {
	clock := testenv.NewClock(base) // 12:00 UTC
	cfg := parseConfig(t, `
time_zone: Europe/Berlin
legacy_headers: true
policies:
  - name: plan
    key: [consumer]
    rate: {limit: 100, period: 1m, burst: 100}
    quota: {limit: 2, period: day}
`, "rate_limits: [plan]")
	h := newHarness(t, cfg, memoryStores(t, clock), "r1")
	alice := map[string]string{"X-Test-Consumer": "alice"}
	for i, wantR := range []string{`"plan";r=99;t=1, "plan.quota";r=1;t=39600`, `"plan";r=98;t=2, "plan.quota";r=0;t=39600`} {
		got := h.do(t, "GET", "/r1", alice)
		if got.status != 200 || got.header.Get("RateLimit") != wantR {
			t.Fatalf("request %d: %d RateLimit=%q, want 200 %q", i+1, got.status, got.header.Get("RateLimit"), wantR)
		}
		if p := got.header.Get("RateLimit-Policy"); p != `"plan";q=100;w=60, "plan.quota";q=2;w=86400` {
			t.Fatalf("RateLimit-Policy = %q", p)
		}
	}
	got := h.do(t, "GET", "/r1", alice)
	wantBody := `{"type":"https://portcullis.dev/problems/quota-exceeded","title":"Quota Exceeded","status":429,"detail":"The request quota for the current period is used up.","request_id":"req-1"}` + "\n"
	if got.status != 429 || got.body != wantBody {
		t.Fatalf("quota exhausted: %d %q", got.status, got.body)
	}
	// Berlin midnight is 11 hours away (CET, UTC+1).
	if ra := got.header.Get("Retry-After"); ra != "39600" {
		t.Fatalf("Retry-After = %q, want 39600", ra)
	}
	// The rejected request was not charged against the rate limit, and the
	// legacy trio reports the most restrictive item (the quota).
	if rl := got.header.Get("RateLimit"); rl != `"plan";r=98;t=2, "plan.quota";r=0;t=39600` {
		t.Fatalf("RateLimit = %q", rl)
	}
	for k, v := range map[string]string{"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "39600"} {
		if g := got.header.Get(k); g != v {
			t.Errorf("%s = %q, want %q", k, g, v)
		}
	}
	if got := h.do(t, "GET", "/r1", map[string]string{"X-Test-Consumer": "bob"}); got.status != 200 {
		t.Fatalf("bob limited by alice's quota: %d", got.status)
	}
	clock.Advance(11 * time.Hour)
	if got := h.do(t, "GET", "/r1", alice); got.status != 200 {
		t.Fatalf("new day in Berlin: %d", got.status)
	}
}

func TestPolicyKeys(t *testing.T) {
	cases := []struct {
		name string
		key  string // YAML list
		// two requests: want whether the second is limited (they share a key)
		a, b   map[string]string
		shared bool
		// want the second request unlimited entirely (policy skipped)
		skipped bool
		extra   string
	}{
		{name: "consumer: same consumer shares", key: "[consumer]",
			a: map[string]string{"X-Test-Consumer": "c1", "X-Test-IP": "192.0.2.1"}, b: map[string]string{"X-Test-Consumer": "c1", "X-Test-IP": "192.0.2.2"}, shared: true},
		{name: "consumer: other consumer", key: "[consumer]",
			a: map[string]string{"X-Test-Consumer": "c1"}, b: map[string]string{"X-Test-Consumer": "c2"}},
		{name: "no consumer falls back to the client IP", key: "[consumer]",
			a: map[string]string{"X-Test-IP": "192.0.2.1"}, b: map[string]string{"X-Test-IP": "192.0.2.1"}, shared: true},
		{name: "no consumer, other IPs", key: "[consumer]",
			a: map[string]string{"X-Test-IP": "192.0.2.1"}, b: map[string]string{"X-Test-IP": "192.0.2.2"}},
		{name: "api key: same key", key: "[api_key]",
			a: map[string]string{"X-Test-Consumer": "c1", "X-Test-Method": "api_key", "X-Test-Credential": "k1"},
			b: map[string]string{"X-Test-Consumer": "c2", "X-Test-Method": "api_key", "X-Test-Credential": "k1"}, shared: true},
		{name: "api key: two keys of one consumer", key: "[api_key]",
			a: map[string]string{"X-Test-Consumer": "c1", "X-Test-Method": "api_key", "X-Test-Credential": "k1"},
			b: map[string]string{"X-Test-Consumer": "c1", "X-Test-Method": "api_key", "X-Test-Credential": "k2"}},
		{name: "client ip: IPv6 in one /64 shares", key: "[client_ip]",
			a: map[string]string{"X-Test-IP": "2001:db8:0:1::1"}, b: map[string]string{"X-Test-IP": "2001:db8:0:1:ffff::2"}, shared: true},
		{name: "client ip: other /64", key: "[client_ip]",
			a: map[string]string{"X-Test-IP": "2001:db8:0:1::1"}, b: map[string]string{"X-Test-IP": "2001:db8:0:2::1"}},
		{name: "header", key: "[header:X-Tenant]",
			a: map[string]string{"X-Tenant": "t1", "X-Test-IP": "192.0.2.1"}, b: map[string]string{"X-Tenant": "t1", "X-Test-IP": "192.0.2.2"}, shared: true},
		{name: "claim", key: "[claim:org]",
			a: map[string]string{"X-Test-Consumer": "c1", "X-Test-Claims": `{"org":"acme"}`},
			b: map[string]string{"X-Test-Consumer": "c2", "X-Test-Claims": `{"org":"acme"}`}, shared: true},
		{name: "composite: consumer and route differ by consumer", key: "[consumer, route]",
			a: map[string]string{"X-Test-Consumer": "c1"}, b: map[string]string{"X-Test-Consumer": "c2"}},
		{name: "missing header with on_missing_key: skip", key: "[header:X-Tenant]", extra: "on_missing_key: skip",
			a: map[string]string{}, b: map[string]string{}, skipped: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := testenv.NewClock(base)
			cfg := parseConfig(t, `
policies:
  - name: k
    key: `+tc.key+`
    rate: {limit: 1, period: 1h}
    `+tc.extra+`
`, "rate_limits: [k]")
			h := newHarness(t, cfg, memoryStores(t, clock), "r1")
			first := h.do(t, "GET", "/r1", tc.a)
			if first.status != 200 {
				t.Fatalf("first request: %d", first.status)
			}
			second := h.do(t, "GET", "/r1", tc.b)
			wantStatus := 200
			if tc.shared {
				wantStatus = 429
			}
			if second.status != wantStatus {
				t.Fatalf("second request: %d, want %d", second.status, wantStatus)
			}
			if tc.skipped && (first.header.Get("RateLimit") != "" || second.header.Get("RateLimit") != "") {
				t.Fatalf("skipped policy still reported RateLimit")
			}
		})
	}
}

func TestTiersAndGlobalPolicies(t *testing.T) {
	clock := testenv.NewClock(base)
	cfg := parseConfig(t, `
global: [per-ip]
tiers:
  gold: [gold]
policies:
  - name: per-ip
    key: [client_ip]
    rate: {limit: 4, period: 1h}
  - name: basic
    key: [consumer]
    rate: {limit: 1, period: 1h}
  - name: gold
    key: [consumer]
    rate: {limit: 3, period: 1h}
`, "rate_limits: [basic]")
	h := newHarness(t, cfg, memoryStores(t, clock), "r1")
	gold := map[string]string{"X-Test-Consumer": "g", "X-Test-Tier": "gold", "X-Test-IP": "192.0.2.10"}
	wantHeaders := []string{`"per-ip";r=3;t=900, "gold";r=2;t=1200`, `"per-ip";r=2;t=1800, "gold";r=1;t=2400`, `"per-ip";r=1;t=2700, "gold";r=0;t=3600`}
	for i, want := range wantHeaders {
		got := h.do(t, "GET", "/r1", gold)
		if got.status != 200 || got.header.Get("RateLimit") != want {
			t.Fatalf("gold request %d: %d %q, want 200 %q", i+1, got.status, got.header.Get("RateLimit"), want)
		}
	}
	if got := h.do(t, "GET", "/r1", gold); got.status != 429 {
		t.Fatalf("4th gold request: %d", got.status)
	}
	// An unknown tier keeps the route's own policy.
	odd := map[string]string{"X-Test-Consumer": "o", "X-Test-Tier": "platinum", "X-Test-IP": "192.0.2.11"}
	if got := h.do(t, "GET", "/r1", odd); got.header.Get("RateLimit") != `"per-ip";r=3;t=900, "basic";r=0;t=3600` {
		t.Fatalf("unknown tier: %q", got.header.Get("RateLimit"))
	}
	// The global per-IP policy binds gold callers too: a second gold
	// consumer on the same IP has one request left there.
	gold2 := map[string]string{"X-Test-Consumer": "g2", "X-Test-Tier": "gold", "X-Test-IP": "192.0.2.10"}
	if got := h.do(t, "GET", "/r1", gold2); got.status != 200 {
		t.Fatalf("gold2 first: %d", got.status)
	}
	if got := h.do(t, "GET", "/r1", gold2); got.status != 429 || !strings.Contains(got.body, "rate-limited") {
		t.Fatalf("gold2 past the global per-IP limit: %d %s", got.status, got.body)
	}
}

func TestCostsByRouteAndMethod(t *testing.T) {
	clock := testenv.NewClock(base)
	cfg := parseConfig(t, `
policies:
  - name: units
    key: [client_ip]
    rate: {limit: 10, period: 1h}
    quota: {limit: 100, period: month}
    costs:
      - {routes: [payments], methods: [POST], cost: 5}
      - {methods: [DELETE], cost: 2}
`, "rate_limits: [units]")
	cfg.Routes[1].RateLimits = []string{"units"}
	stores := memoryStores(t, clock)
	r1 := newHarness(t, cfg, stores, "r1")
	pay := newHarness(t, cfg, stores, "payments")
	steps := []struct {
		h      *harness
		method string
		want   string
	}{
		{pay, "POST", `"units";r=5;t=1800, "units.quota";r=95;t=1512000`},
		{pay, "GET", `"units";r=4;t=2160, "units.quota";r=94;t=1512000`},
		{r1, "POST", `"units";r=3;t=2520, "units.quota";r=93;t=1512000`},
		{r1, "DELETE", `"units";r=1;t=3240, "units.quota";r=91;t=1512000`},
	}
	for i, s := range steps {
		got := s.h.do(t, s.method, "/x", nil)
		if got.status != 200 || got.header.Get("RateLimit") != s.want {
			t.Fatalf("step %d %s: %d %q, want %q", i, s.method, got.status, got.header.Get("RateLimit"), s.want)
		}
	}
	// 1 unit left: a POST on payments (5) does not fit; Retry-After is the
	// time for the 4 missing units.
	got := pay.do(t, "POST", "/x", nil)
	if got.status != 429 || got.header.Get("Retry-After") != "1440" {
		t.Fatalf("payment over the limit: %d Retry-After %q", got.status, got.header.Get("Retry-After"))
	}
}

func TestConcurrencyLimit(t *testing.T) {
	clock := testenv.NewClock(base)
	cfg := parseConfig(t, `
policies:
  - name: inflight
    key: [consumer]
    concurrency: 1
`, "rate_limits: [inflight]")
	stores := memoryStores(t, clock)
	h := newHarness(t, cfg, stores, "r1")
	h.release, h.entered = make(chan struct{}), make(chan struct{}, 1)
	c := map[string]string{"X-Test-Consumer": "c"}
	type result struct {
		r   response
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := h.send("GET", "/r1", map[string]string{"X-Test-Consumer": "c", "X-Test-Hold": "1"})
		done <- result{r, err}
	}()
	select {
	case <-h.entered: // the first request holds the slot
	case res := <-done:
		t.Fatalf("the first request ended before holding its slot: %d %v", res.r.status, res.err)
	}
	got := h.do(t, "GET", "/r1", c)
	wantBody := `{"type":"https://portcullis.dev/problems/concurrency-limited","title":"Too Many Requests","status":429,"detail":"Too many requests from this client are in progress.","request_id":"req-1"}` + "\n"
	if got.status != 429 || got.body != wantBody || got.header.Get("Retry-After") != "1" || got.header.Get("RateLimit") != "" {
		t.Fatalf("second in flight: %d %q Retry-After=%q RateLimit=%q", got.status, got.body, got.header.Get("Retry-After"), got.header.Get("RateLimit"))
	}
	if other := h.do(t, "GET", "/r1", map[string]string{"X-Test-Consumer": "d"}); other.status != 200 {
		t.Fatalf("another consumer was limited by c's slot: %d", other.status)
	}
	close(h.release)
	if first := <-done; first.err != nil || first.r.status != 200 {
		t.Fatalf("first: %d %v", first.r.status, first.err)
	}
	if got := h.do(t, "GET", "/r1", c); got.status != 200 {
		t.Fatalf("after the first finished: %d", got.status)
	}
	if n := stores.Memory().Len(); n != 0 {
		t.Fatalf("%d concurrency entries left after every request finished", n)
	}
}

func TestSubSecondPeriodHeader(t *testing.T) {
	clock := testenv.NewClock(base)
	cfg := parseConfig(t, `
policies:
  - name: fast
    key: [client_ip]
    rate: {limit: 10, period: 100ms, burst: 20}
`, "rate_limits: [fast]")
	h := newHarness(t, cfg, memoryStores(t, clock), "r1")
	got := h.do(t, "GET", "/r1", nil)
	if got.header.Get("RateLimit-Policy") != `"fast";q=100;w=1` || got.header.Get("RateLimit") != `"fast";r=19;t=1` {
		t.Fatalf("headers: %q %q", got.header.Get("RateLimit-Policy"), got.header.Get("RateLimit"))
	}
}

func TestRouteWithoutPolicies(t *testing.T) {
	cfg := parseConfig(t, `
policies:
  - name: unused
    rate: {limit: 1, period: 1h}
`, "")
	l := New(cfg.RateLimits, memoryStores(t, testenv.NewClock(base)))
	if mw := l.Route(cfg.Routes[0]); mw != nil {
		t.Fatal("a route without policies got a limiter")
	}
}

func TestHeadersOnEveryLimitedResponse(t *testing.T) {
	// The headers go on the ResponseWriter before the upstream runs, so a
	// proxied response carries them next to the upstream's own headers.
	clock := testenv.NewClock(base)
	cfg := parseConfig(t, `
policies:
  - name: p
    key: [client_ip]
    rate: {limit: 5, period: 1s}
`, "rate_limits: [p]")
	h := newHarness(t, cfg, memoryStores(t, clock), "r1")
	got := h.do(t, "HEAD", "/r1", nil)
	if got.status != http.StatusOK || got.header.Get("Content-Type") != "text/plain" || got.header.Get("RateLimit") != `"p";r=4;t=1` {
		t.Fatalf("HEAD: %d %v", got.status, got.header)
	}
}
