package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/testenv"
)

const sharedConfig = `
listeners:
  - address: "127.0.0.1:0"
    insecure: true
ops: {disabled: true}
upstreams:
  - name: up
    targets: ["http://127.0.0.1:1"]
routes:
  - name: r
    prefix: /
    upstream: up
    auth: none
`

// The shared store of idempotency keys and nonces is on the rate limits'
// Redis (their connection, under their prefix) when they use Redis, and
// in memory otherwise.
func TestSharedStateFollowsTheRateLimitStore(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	cases := []struct {
		name, extra string
		redis       bool
	}{
		{"memory", "", false},
		{"redis", "rate_limits:\n  store:\n    type: redis\n    redis: {address: \"" + r.Addr() + "\", key_prefix: \"pc-test:\"}\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(sharedConfig+tc.extra), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			p, err := Build(cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			_, isRedis := p.Shared.(*sharedstate.Redis)
			if isRedis != tc.redis {
				t.Fatalf("shared store %T", p.Shared)
			}
			k := sharedstate.Key{Scope: "idem:x", ID: "k"}
			if first, err := p.Shared.Seen(context.Background(), k, time.Minute); err != nil || !first {
				t.Fatalf("Seen = %v, %v", first, err)
			}
			if !tc.redis {
				return
			}
			c := redis.NewClient(&redis.Options{Addr: r.Addr()})
			defer c.Close()
			keys, err := c.Keys(context.Background(), "*").Result()
			if err != nil || len(keys) != 1 || !strings.HasPrefix(keys[0], "pc-test:ss:{idem:x}") {
				t.Fatalf("keys in Redis: %v, %v", keys, err)
			}
		})
	}
}
