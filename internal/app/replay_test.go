package app

import (
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/testenv"
)

// The DPoP replay store follows rate_limits.store: with Redis, two
// processes configured alike share it (a jti one of them recorded is a
// replay at the other), through the rate-limit store's connection; with
// memory, each has its own.
func TestReplayStoreFollowsTheRateLimitStore(t *testing.T) {
	rd := testenv.StartRedis(t, testenv.RedisOptions{})
	tests := []struct {
		name   string
		store  string
		shared bool
	}{
		{"redis", `{type: redis, redis: {address: "` + rd.Addr() + `", key_prefix: "app-test:"}}`, true},
		{"memory", `{type: memory}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(`
listeners: [{address: "127.0.0.1:0", insecure: true}]
upstreams: [{name: up, targets: ["http://127.0.0.1:1"]}]
routes: [{name: r, path: /r, upstream: up, auth: none}]
rate_limits: {store: `+tt.store+`}
`), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			process := func() sharedstate.Store {
				limits, err := ratelimit.NewStores(cfg.RateLimits.Store, ratelimit.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = limits.Close() })
				st, err := sharedState(cfg, limits)
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
			a, b := process(), process()
			k := sharedstate.Key{Scope: "dpop:jkt", ID: "jti-1"}
			if first, err := a.Seen(context.Background(), k, time.Minute); err != nil || !first {
				t.Fatalf("first Seen = %v, %v", first, err)
			}
			first, err := b.Seen(context.Background(), k, time.Minute)
			if err != nil || first == tt.shared {
				t.Fatalf("Seen on the other process = %v, %v; shared store %v", first, err, tt.shared)
			}
		})
	}
}
