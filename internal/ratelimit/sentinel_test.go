package ratelimit

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/testenv"
)

// eventually polls ok for up to limit (bounded: another process acts).
func eventually(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func infoHas(c *redis.Client, section, want string) bool {
	s, err := c.Info(context.Background(), section).Result()
	return err == nil && strings.Contains(s, want)
}

// Through Redis Sentinel the store finds the primary, and after the primary
// dies and a replica is promoted it follows without a restart: requests
// fall back locally meanwhile, then share the new primary.
func TestRedisSentinelFailover(t *testing.T) {
	primary := testenv.StartRedis(t, testenv.RedisOptions{})
	replica := testenv.StartRedis(t, testenv.RedisOptions{ReplicaOf: primary.Addr()})
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr(), Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = rc.Close() })
	eventually(t, 15*time.Second, "replica in sync", func() bool { return infoHas(rc, "replication", "master_link_status:up") })
	sentinel := testenv.StartSentinel(t, "pc", primary.Addr())
	sc := redis.NewSentinelClient(&redis.Options{Addr: sentinel.Addr(), Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = sc.Close() })
	eventually(t, 20*time.Second, "sentinel knows the replica", func() bool {
		r, err := sc.Replicas(context.Background(), "pc").Result()
		return err == nil && len(r) == 1
	})

	clock := testenv.NewClock(time.Now())
	stores, err := NewStores(config.WithDefaults(config.RateLimitStore{Type: "redis", MaxKeys: 10000, Redis: &config.RedisConfig{
		Sentinel:  &config.RedisSentinel{MasterName: "pc", Addresses: []string{sentinel.Addr()}},
		KeyPrefix: "sentinel:", DialTimeout: config.Duration(500 * time.Millisecond),
		Timeout: config.Duration(500 * time.Millisecond), RetryInterval: config.Duration(100 * time.Millisecond),
	}}), Options{Clock: clock.Now, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stores.Close() })
	st := stores.Redis()
	check := func(key string) error {
		_, err := st.Check(context.Background(), []Check{{Kind: KindRate, Key: key, Cost: 1, Interval: time.Second, Burst: 10}})
		return err
	}
	if err := check("before"); err != nil {
		t.Fatalf("through the sentinel: %v", err)
	}
	pc := redis.NewClient(&redis.Options{Addr: primary.Addr(), Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = pc.Close() })
	if n, _ := pc.Exists(context.Background(), "sentinel:before").Result(); n != 1 {
		t.Fatal("the check did not reach the primary")
	}

	primary.Stop()
	stopped := time.Now()
	eventually(t, 30*time.Second, "the store works again after failover", func() bool {
		clock.Advance(200 * time.Millisecond) // past the breaker's retry interval
		return check("after") == nil
	})
	t.Logf("shared again %v after the primary died (sentinel down-after 1s)", time.Since(stopped).Round(10*time.Millisecond))
	if !infoHas(rc, "replication", "role:master") {
		t.Fatalf("the replica was not promoted; sentinel log:\n%s", sentinel.Log())
	}
	if n, _ := rc.Exists(context.Background(), "sentinel:after").Result(); n != 1 {
		t.Fatal("the check after failover did not reach the promoted replica")
	}
}
