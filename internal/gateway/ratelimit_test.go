package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/testenv"
)

// upstreamServer is the backend: it answers 200 with a header of its own.
func upstreamServer(t *testing.T) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", "yes")
		_, _ = io.WriteString(w, "from upstream")
	}))
	t.Cleanup(up.Close)
	return up
}

func limitsConfig(t *testing.T, upstream, rateLimits string) *config.Config {
	t.Helper()
	doc := fmt.Sprintf(`
listeners:
  - address: "127.0.0.1:0"
    insecure: true
trusted_proxies: ["127.0.0.1"]
upstreams:
  - name: up
    targets: ["%s"]
routes:
  - name: limited
    path: /limited
    upstream: up
    auth: none
    rate_limits: [per-ip]
  - name: partners
    path: /partners
    upstream: up
    auth: none
    ip_allow: ["198.51.100.0/24"]
rate_limits:
%s
`, upstream, rateLimits)
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// startGateway serves cfg on a real loopback listener.
func startGateway(t *testing.T, cfg *config.Config, deps Deps) (*httptest.Server, *Gateway) {
	t.Helper()
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	rt, err := Build(cfg, deps)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	rt.Start()
	gw := New(rt, nil, nil, deps.Log)
	srv := httptest.NewServer(gw.Handler(cfg.Listeners[0]))
	t.Cleanup(func() {
		srv.Close()
		gw.Runtime().Stop()
	})
	return srv, gw
}

type seen struct {
	status int
	header http.Header
	body   string
}

func get(t *testing.T, srv *httptest.Server, path, clientIP string) seen {
	t.Helper()
	s, err := fetch(srv, path, clientIP)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fetch is get for other goroutines, where t.Fatal must not be called.
func fetch(srv *httptest.Server, path, clientIP string) (seen, error) {
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	req.Header.Set("X-Forwarded-For", clientIP) // the peer (127.0.0.1) is a trusted proxy
	resp, err := srv.Client().Do(req)
	if err != nil {
		return seen{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return seen{resp.StatusCode, resp.Header, string(b)}, nil
}

const perIP = `
  ip_deny: ["203.0.113.0/24"]
  brute_force: {enabled: false}
  policies:
    - name: per-ip
      key: [client_ip]
      rate: {limit: 2, period: 1h}
`

func TestGatewayRateLimitsAndIPLists(t *testing.T) {
	cfg := limitsConfig(t, upstreamServer(t).URL, perIP)
	srv, _ := startGateway(t, cfg, Deps{})

	for i, want := range []string{`"per-ip";r=1;t=1800`, `"per-ip";r=0;t=3600`} {
		got := get(t, srv, "/limited", "192.0.2.1")
		if got.status != 200 || got.body != "from upstream" || got.header.Get("X-Upstream") != "yes" ||
			got.header.Get("RateLimit") != want || got.header.Get("RateLimit-Policy") != `"per-ip";q=2;w=3600` {
			t.Fatalf("request %d: %d %q %v", i+1, got.status, got.body, got.header)
		}
	}
	got := get(t, srv, "/limited", "192.0.2.1")
	id := got.header.Get("X-Request-Id")
	want := `{"type":"https://portcullis.dev/problems/rate-limited","title":"Too Many Requests","status":429,"detail":"The rate limit for this client has been reached.","request_id":"` + id + `"}` + "\n"
	if got.status != 429 || got.body != want || got.header.Get("Retry-After") != "1800" || got.header.Get("X-Upstream") != "" {
		t.Fatalf("third: %d %q Retry-After=%q", got.status, got.body, got.header.Get("Retry-After"))
	}
	if got := get(t, srv, "/limited", "192.0.2.2"); got.status != 200 {
		t.Fatalf("another client: %d", got.status)
	}

	cases := []struct {
		name, path, ip string
		status         int
	}{
		{"global deny-list is checked before routing", "/does-not-exist", "203.0.113.7", 403},
		{"global deny-list on a route", "/limited", "203.0.113.7", 403},
		{"route allow-list: outside", "/partners", "192.0.2.1", 403},
		{"route allow-list: inside", "/partners", "198.51.100.7", 200},
		{"unknown path from an allowed address", "/does-not-exist", "192.0.2.1", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := get(t, srv, tc.path, tc.ip)
			if got.status != tc.status {
				t.Fatalf("%d, want %d: %s", got.status, tc.status, got.body)
			}
			if tc.status == 403 && !strings.Contains(got.body, `"type":"https://portcullis.dev/problems/ip-denied"`) {
				t.Fatalf("body %s", got.body)
			}
		})
	}
}

func TestGatewayLimitsSurviveReload(t *testing.T) {
	stores, err := ratelimit.NewStores(config.WithDefaults(config.RateLimitStore{Type: "memory", MaxKeys: 10000}), ratelimit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	up := upstreamServer(t).URL
	cfg := limitsConfig(t, up, perIP)
	deps := Deps{RateLimits: stores, Log: slog.New(slog.DiscardHandler)}
	srv, gw := startGateway(t, cfg, deps)
	get(t, srv, "/limited", "192.0.2.1")
	get(t, srv, "/limited", "192.0.2.1")

	rt2, err := Build(limitsConfig(t, up, perIP), deps)
	if err != nil {
		t.Fatal(err)
	}
	rt2.Start()
	gw.Swap(rt2).Stop()
	if got := get(t, srv, "/limited", "192.0.2.1"); got.status != 429 {
		t.Fatalf("after reload: %d; the limit's state was lost", got.status)
	}
}

// Two gateway instances share one limit through a real Redis: together
// they admit exactly the burst. Then Redis dies (each instance falls back
// to its share, limit / instances) and comes back (shared again).
func TestGatewayClusterSharesOneLimit(t *testing.T) {
	t.Run("standalone Redis", func(t *testing.T) {
		r := testenv.StartRedis(t, testenv.RedisOptions{})
		testSharedLimit(t, r, `address: "`+r.Addr()+`"`)
	})
	t.Run("Redis Cluster of 3 masters", func(t *testing.T) {
		cl := testenv.StartRedisCluster(t, 3)
		testSharedLimit(t, cl, `cluster: {addresses: ["`+strings.Join(cl.Addrs(), `", "`)+`"]}`)
	})
}

func testSharedLimit(t *testing.T, r interface {
	Stop()
	Start()
}, where string) {
	up := upstreamServer(t).URL
	rl := fmt.Sprintf(`
  store:
    type: redis
    redis: {%s, key_prefix: "cluster-test:", retry_interval: 1s, timeout: 5s, dial_timeout: 5s}
  instances: 2
  brute_force: {enabled: false}
  policies:
    - name: per-ip
      key: [client_ip]
      rate: {limit: 10, period: 1h}
`, where)
	var mu sync.Mutex
	now := time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var gws []*httptest.Server
	var all []*ratelimit.Stores
	for range 2 {
		cfg := limitsConfig(t, up, rl)
		stores, err := ratelimit.NewStores(cfg.RateLimits.Store, ratelimit.Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stores.Close() })
		all = append(all, stores)
		srv, _ := startGateway(t, cfg, Deps{RateLimits: stores})
		gws = append(gws, srv)
	}
	burst := func(n int) [2]int {
		var ok [2]int
		var wg sync.WaitGroup
		var m sync.Mutex
		for i := range n {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				got, err := fetch(gws[i%2], "/limited", "192.0.2.77")
				if err != nil {
					t.Error(err)
					return
				}
				switch got.status {
				case 200:
					m.Lock()
					ok[i%2]++
					m.Unlock()
				case 429:
				default:
					t.Errorf("status %d: %s", got.status, got.body)
				}
			}(i)
		}
		wg.Wait()
		return ok
	}
	if ok := burst(40); ok[0]+ok[1] != 10 {
		t.Fatalf("shared limit 10: the instances admitted %d + %d", ok[0], ok[1])
	}

	r.Stop()
	// Each instance now enforces 10 / 2 = 5 on its own.
	if ok := burst(40); ok != [2]int{5, 5} {
		t.Fatalf("Redis down: admitted %v, want 5 per instance", ok)
	}

	r.Start()
	// After as many failed dials as its pool size, go-redis refuses new
	// connections with the last dial error until its own background dialer
	// (retrying once a second) gets through; a burst on a loaded machine can
	// reach that count. Wait for the pools, so the probe below meets Redis.
	for _, stores := range all {
		waitForRedis(t, stores)
	}
	mu.Lock()
	now = now.Add(time.Second) // past retry_interval: the next request probes Redis
	mu.Unlock()
	// One request per instance probes Redis (requests arriving during a
	// probe stay local); Redis restarted empty (no persistence), so the
	// shared burst is available again, and shared.
	for i, srv := range gws {
		if got := get(t, srv, "/limited", "192.0.2.77"); got.status != 200 || got.header.Get("RateLimit") != fmt.Sprintf(`"per-ip";r=%d;t=%d`, 9-i, 360*(i+1)) {
			t.Fatalf("probe on instance %d: %d %q", i, got.status, got.header.Get("RateLimit"))
		}
	}
	if ok := burst(40); ok[0]+ok[1] != 8 {
		t.Fatalf("after recovery: the instances admitted %d + %d, want 8 together", ok[0], ok[1])
	}
}

// waitForRedis waits, bounded, until the stores' own connection pool
// reaches Redis again.
func waitForRedis(t *testing.T, stores *ratelimit.Stores) {
	t.Helper()
	var err error
	for range 100 {
		if err = stores.Ping(context.Background()); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond) // go-redis redials on its own clock
	}
	t.Fatalf("redis did not come back for the stores: %v", err)
}
