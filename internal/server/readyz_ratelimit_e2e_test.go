package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/server"
	"github.com/portcullis/portcullis/internal/testenv"
)

// /readyz follows the Redis rate-limit store without any traffic: when
// Redis goes away an instance whose policies refuse requests then
// (on_store_error: deny) leaves rotation, one whose policies fall back
// reports degraded, and both return to ready when Redis is back. The
// store_up metric follows the same background check.
func TestReadyzFollowsTheRateLimitStore(t *testing.T) {
	tests := []struct {
		mode string
		code int
		body string
	}{
		{"deny", 503, `{"problems":{"ratelimit_store":"Redis unreachable: policies with on_store_error deny refuse every request they limit with 503: per-client"},"status":"not ready"}` + "\n"},
		{"local", 200, `{"status":"degraded","warnings":{"ratelimit_store":"Redis unreachable: limits are per instance or not applied until it is back: per-client (local)"}}` + "\n"},
		{"allow", 200, `{"status":"degraded","warnings":{"ratelimit_store":"Redis unreachable: limits are per instance or not applied until it is back: per-client (allow)"}}` + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			r := testenv.StartRedis(t, testenv.RedisOptions{})
			storeCfg := config.WithDefaults(config.RateLimitStore{Type: "redis", Redis: &config.RedisConfig{
				Address: r.Addr(), RetryInterval: config.Duration(50 * time.Millisecond), HealthInterval: config.Duration(100 * time.Millisecond),
			}})
			stores, err := ratelimit.NewStores(storeCfg, ratelimit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			stores.Start()
			t.Cleanup(func() { _ = stores.Close() })
			up := newUpstream(t, nil)
			doc := gatewayHead + `routes:
  - name: all
    prefix: /
    upstream: api
    auth: none
    rate_limits: [per-client]
rate_limits:
  store:
    type: redis
    redis: {address: "{{REDIS}}"}
  policies:
    - name: per-client
      key: [client_ip]
      on_store_error: {{MODE}}
      rate: {limit: 1000, period: 1s}
logging:
  access:
    enabled: false
`
			g := startGatewayWith(t, doc, map[string]string{"UP": up.URL, "REDIS": r.Addr(), "MODE": tc.mode},
				server.Options{Deps: gateway.Deps{RateLimits: stores}, Collectors: stores.Collectors()})
			ops := "http://" + g.srv.Addr("ops")
			waitReadyzIs(t, ops, "Redis up", 200, `{"status":"ready"}`+"\n")
			waitMetric(t, ops, "portcullis_ratelimit_store_up 1")

			r.Stop()
			waitReadyzIs(t, ops, "Redis down", tc.code, tc.body)
			waitMetric(t, ops, "portcullis_ratelimit_store_up 0")

			r.Start()
			waitReadyzIs(t, ops, "Redis back", 200, `{"status":"ready"}`+"\n")
			waitMetric(t, ops, "portcullis_ratelimit_store_up 1")
		})
	}
}

// waitReadyzIs polls /readyz (bounded) until it answers exactly code and
// body.
func waitReadyzIs(t *testing.T, ops, step string, code int, body string) {
	t.Helper()
	var gotCode int
	var gotBody string
	for range 500 {
		if gotCode, gotBody = readyzStatus(ops); gotCode == code && gotBody == body {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: /readyz = %d %q, want %d %q", step, gotCode, gotBody, code, body)
}

// waitMetric polls /metrics (bounded) until it has the line.
func waitMetric(t *testing.T, ops, line string) {
	t.Helper()
	var body string
	for range 500 {
		resp, err := http.Get(ops + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			if strings.Contains("\n"+body, "\n"+line+"\n") {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	name, _, _ := strings.Cut(line, "{")
	var same []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, name) {
			same = append(same, l)
		}
	}
	t.Fatalf("/metrics has no line %q; it has %q", line, same)
}
