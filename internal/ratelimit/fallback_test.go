package ratelimit

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testenv"
)

// Redis goes away mid-test and comes back: each policy falls back as its
// on_store_error says, and recovery needs nothing but time.
func TestRedisFallbackAndRecovery(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	clock := testenv.NewClock(base) // breaker and local fallback; Redis uses its own TIME
	cfg := parseConfig(t, `
instances: 2
policies:
  - name: shared
    key: [client_ip]
    rate: {limit: 4, period: 1h}
    on_store_error: local
  - name: open
    key: [client_ip]
    rate: {limit: 100, period: 1h}
    on_store_error: allow
  - name: strict
    key: [client_ip]
    rate: {limit: 100, period: 1h}
    on_store_error: deny
`, "rate_limits: [shared]")
	stores := redisStores(t, r.Addr(), "", "fallback:", clock, nil)
	local := newHarness(t, cfg, stores, "r1")
	cfg.Routes[1].RateLimits = []string{"open"}
	open := newHarness(t, cfg, stores, "payments")
	cfg2 := parseConfig(t, strings.Replace(`
instances: 2
policies:
  - name: strict
    key: [client_ip]
    rate: {limit: 100, period: 1h}
    on_store_error: deny
`, "\t", "", -1), "rate_limits: [strict]")
	strict := newHarness(t, cfg2, stores, "r1")

	expect := func(name string, h *harness, status int, rateLimit string) response {
		t.Helper()
		got := h.do(t, "GET", "/x", nil)
		if got.status != status || got.header.Get("RateLimit") != rateLimit {
			t.Fatalf("%s: %d RateLimit=%q; want %d %q (body %s)", name, got.status, got.header.Get("RateLimit"), status, rateLimit, got.body)
		}
		return got
	}
	// Shared: 4 per hour in Redis.
	expect("shared 1", local, 200, `"shared";r=3;t=900`)
	if metricValue(t, stores.metrics.storeUp) != 1 {
		t.Fatal("store_up is not 1")
	}

	r.Stop()
	// local: 4 / 2 instances = 2 per hour on this instance.
	expect("local 1", local, 200, `"shared";r=1;t=1800`)
	expect("local 2", local, 200, `"shared";r=0;t=3600`)
	expect("local 3 over the per-instance limit", local, 429, `"shared";r=0;t=3600`)
	// allow: passes uncounted, so no RateLimit fields.
	expect("allow", open, 200, "")
	// deny: 503.
	got := expect("deny", strict, 503, "")
	wantBody := `{"type":"https://portcullis.dev/problems/rate-limit-unavailable","title":"Service Unavailable","status":503,"detail":"Rate limits cannot be checked right now.","request_id":"req-1"}` + "\n"
	if got.body != wantBody || got.header.Get("Retry-After") != "1" {
		t.Fatalf("deny body %q Retry-After %q", got.body, got.header.Get("Retry-After"))
	}
	if metricValue(t, stores.metrics.storeUp) != 0 {
		t.Fatal("store_up is not 0 while Redis is down")
	}
	for mode, want := range map[string]float64{"local": 3, "allow": 1, "deny": 1} {
		policy := map[string]string{"local": "shared", "allow": "open", "deny": "strict"}[mode]
		if got := metricValue(t, stores.metrics.fallbacks.WithLabelValues(policy, mode)); got != want {
			t.Errorf("fallbacks{%s,%s} = %v, want %v", policy, mode, got, want)
		}
	}
	if got := metricValue(t, stores.metrics.storeErrors); got < 5 {
		t.Errorf("store errors = %v, want at least 5", got)
	}

	r.Start()
	// Until the retry interval has passed nobody touches Redis.
	expect("still local before the retry interval", local, 429, `"shared";r=0;t=3600`)
	clock.Advance(time.Second)
	// The next request probes Redis, finds it (empty: it restarted without
	// persistence) and every policy is shared again.
	expect("recovered", local, 200, `"shared";r=3;t=900`)
	expect("shared again", local, 200, `"shared";r=2;t=1800`)
	expect("deny policy recovered", strict, 200, `"strict";r=99;t=36`)
	if metricValue(t, stores.metrics.storeUp) != 1 {
		t.Fatal("store_up is not 1 after recovery")
	}
}

// A Redis that was never reachable (wrong address) falls back from the
// first request on.
func TestRedisUnreachableFromTheStart(t *testing.T) {
	clock := testenv.NewClock(base)
	cfg := parseConfig(t, `
policies:
  - name: p
    key: [client_ip]
    rate: {limit: 1, period: 1h}
`, "rate_limits: [p]")
	stores := redisStores(t, testenv.Addr(testenv.FreePort(t)), "", "x:", clock, nil)
	h := newHarness(t, cfg, stores, "r1")
	if got := h.do(t, "GET", "/r1", nil); got.status != 200 {
		t.Fatalf("first: %d", got.status)
	}
	if got := h.do(t, "GET", "/r1", nil); got.status != 429 {
		t.Fatalf("second (local limit 1): %d", got.status)
	}
}
