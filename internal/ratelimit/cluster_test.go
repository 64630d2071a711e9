package ratelimit

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/testenv"
)

func clusterStores(t *testing.T, addrs []string, prefix string, clock *testenv.Clock, scriptClock Clock) *Stores {
	t.Helper()
	cfg := config.WithDefaults(config.RateLimitStore{Type: "redis", MaxKeys: 10000, Redis: &config.RedisConfig{
		Cluster: &config.RedisCluster{Addresses: addrs}, KeyPrefix: prefix,
		DialTimeout: config.Duration(time.Second), Timeout: config.Duration(time.Second), RetryInterval: config.Duration(time.Second),
	}})
	s, err := NewStores(cfg, Options{Clock: clock.Now, ScriptClock: scriptClock, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// tagged gives the checks and leases it passes on a slot tag: one for all
// (every request in one slot, one script) or one per key (every check in
// a slot of its own: one script per slot, undone when another refuses).
type tagged struct {
	Store
	tag func(key string) string
}

func (s tagged) Check(ctx context.Context, checks []Check) ([]Result, error) {
	out := make([]Check, len(checks))
	for i, c := range checks {
		c.Tag = s.tag(c.Key)
		out[i] = c
	}
	return s.Store.Check(ctx, out)
}

func (s tagged) Release(ctx context.Context, leases []Lease) error {
	out := make([]Lease, len(leases))
	for i, l := range leases {
		l.Tag = s.tag(l.Key)
		out[i] = l
	}
	return s.Store.Release(ctx, out)
}

// The store scenarios hold on a real 3-master Redis Cluster too, with
// every check in one slot and with every check in a slot of its own: a
// batch that one slot refuses is charged in none (the others are undone),
// exactly as the single-script stores behave.
func TestRedisClusterStoreScenarios(t *testing.T) {
	cl := testenv.StartRedisCluster(t, 3)
	for name, tag := range map[string]func(string) string{
		"one slot":         func(string) string { return "consumer-1" },
		"a slot per check": func(k string) string { return k },
	} {
		t.Run(name, func(t *testing.T) {
			runStoreScenarios(t, func(t *testing.T, clock *testenv.Clock, prefix string) Store {
				return tagged{Store: clusterStores(t, cl.Addrs(), prefix, clock, clock.Now).Redis(), tag: tag}
			})
		})
	}
}

func TestRedisClusterPenalty(t *testing.T) {
	cl := testenv.StartRedisCluster(t, 3)
	clock := testenv.NewClock(base)
	st := clusterStores(t, cl.Addrs(), "penalty:", clock, nil).Redis()
	runPenalty(t, st) // sources "src" and "off": two slots
	// The horizon followed the blocks, for every instance.
	other := clusterStores(t, cl.Addrs(), "penalty:", clock, nil).Redis()
	left, err := other.readHorizon(context.Background())
	if err != nil || left < 59*time.Minute {
		t.Fatalf("horizon seen by another instance: %v %v, want about 1h", left, err)
	}
	if d, err := other.Blocked(context.Background(), []string{"off", "src"}); err != nil || d < 59*time.Minute {
		t.Fatalf("Blocked across two slots: %v %v", d, err)
	}
}

const clusterPolicies = `
policies:
  - name: per-consumer
    key: [consumer]
    rate: {limit: 1, period: 1h}
    quota: {limit: 1000, period: day}
    concurrency: 5
  - name: per-consumer-route
    key: [consumer, route]
    rate: {limit: 10, period: 1m}
  - name: per-ip
    key: [client_ip]
    rate: {limit: 3, period: 1h}
`

func clusterLimitsConfig(t *testing.T, cl *testenv.RedisCluster) *config.Config {
	return parseConfig(t, `
store:
  type: redis
  redis:
    cluster: {addresses: ["`+strings.Join(cl.Addrs(), `", "`)+`"]}
    key_prefix: "slots:"
`+clusterPolicies, "rate_limits: [per-consumer, per-consumer-route, per-ip]")
}

// Every key a consumer's request touches, across policies keyed
// [consumer] and [consumer, route] and all three kinds of limit, hashes to
// one slot: one atomic script on one master. Consumers spread over the
// masters.
func TestRedisClusterKeysOfOneConsumerShareASlot(t *testing.T) {
	cl := testenv.StartRedisCluster(t, 3)
	cfg := clusterLimitsConfig(t, cl)
	stores, err := NewStores(cfg.RateLimits.Store, Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stores.Close() })
	h := newHarness(t, cfg, stores, "r1")
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()})
	t.Cleanup(func() { _ = client.Close() })
	ctx := context.Background()
	masters := map[string]bool{}
	for i := range 12 {
		consumer := "cons_" + strconv.Itoa(i)
		if got := h.do(t, "GET", "/r1", map[string]string{"X-Test-Consumer": consumer}); got.status != 200 {
			t.Fatalf("%s: %d %s", consumer, got.status, got.body)
		}
		slots := map[int64][]string{}
		err := client.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			ks, err := m.Keys(ctx, "slots:*").Result()
			for _, k := range ks {
				if strings.Contains(k, "per-ip") {
					continue
				}
				s, err := client.ClusterKeySlot(ctx, k).Result()
				if err != nil {
					return err
				}
				slots[s] = append(slots[s], k)
				masters[m.Options().Addr] = true
			}
			if err != nil {
				return err
			}
			_, err = m.FlushAll(ctx).Result()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(slots) != 1 {
			t.Fatalf("%s: keys in %d slots, want 1: %v", consumer, len(slots), slots)
		}
		for _, ks := range slots {
			if len(ks) != 3 { // two rates and a quota window (the concurrency slot was released)
				t.Fatalf("%s: keys %v, want 3", consumer, ks)
			}
		}
	}
	if len(masters) != 3 {
		t.Fatalf("12 consumers' keys landed on %d masters, want 3", len(masters))
	}
}

// A request refused by one slot's policy is charged in none: the per-ip
// limit (3, another slot) counts only the requests admitted, not the one
// the per-consumer limit (1) refused.
func TestRedisClusterRefusedRequestIsChargedNowhere(t *testing.T) {
	cl := testenv.StartRedisCluster(t, 3)
	cfg := clusterLimitsConfig(t, cl)
	stores, err := NewStores(cfg.RateLimits.Store, Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stores.Close() })
	h := newHarness(t, cfg, stores, "r1")
	steps := []struct {
		consumer string
		status   int
	}{
		{"alice", 200},
		{"alice", 429}, // per-consumer refuses; per-ip must not count it
		{"bob", 200},
		{"carol", 200}, // the 3rd admitted request from this IP
		{"dave", 429},  // per-ip: 3 of 3 used
	}
	for i, s := range steps {
		got := h.do(t, "GET", "/r1", map[string]string{"X-Test-Consumer": s.consumer, "X-Test-IP": "198.51.100.7"})
		if got.status != s.status {
			t.Fatalf("step %d (%s): %d %s, want %d", i, s.consumer, got.status, got.body, s.status)
		}
	}
}
