package sharedstate

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/portcullis/portcullis/internal/testenv"
)

const testPrefix = "pc:test:"

// newClient is a client as a gateway would configure one: short timeouts
// and no retries, so an unreachable Redis is an error within a timeout.
func newClient(t testing.TB, addr string, cluster bool) redis.UniversalClient {
	const timeout = 500 * time.Millisecond
	var c redis.UniversalClient
	if cluster {
		c = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: []string{addr}, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
			PoolTimeout: timeout, MaxRetries: -1, DisableIdentity: true,
		})
	} else {
		c = redis.NewClient(&redis.Options{
			Addr: addr, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
			PoolTimeout: timeout, MaxRetries: -1, DisableIdentity: true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newRedisStore(t testing.TB, c redis.UniversalClient) *Redis {
	s, err := NewRedis(c, testPrefix, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func redisHarness(t *testing.T, opts testenv.RedisOptions) harness {
	r := testenv.StartRedis(t, opts)
	a := newRedisStore(t, newClient(t, r.Addr(), opts.Cluster))
	b := newRedisStore(t, newClient(t, r.Addr(), opts.Cluster))
	poll := newClient(t, r.Addr(), opts.Cluster)
	return harness{a: a, b: b, short: 50 * time.Millisecond, expire: func(t *testing.T, k Key) {
		t.Helper()
		waitFor(t, "key to expire", func() bool {
			n, err := poll.Exists(t.Context(), a.redisKey(k)[0]).Result()
			return err == nil && n == 0
		})
	}}
}

// clusterHarness runs the suite on a real 3-master Redis Cluster: entries
// of different scopes live on different processes.
func clusterHarness(t *testing.T) harness {
	cl := testenv.StartRedisCluster(t, 3)
	seed := cl.Addrs()[1]
	a := newRedisStore(t, newClient(t, seed, true))
	b := newRedisStore(t, newClient(t, cl.Addrs()[2], true))
	poll := newClient(t, seed, true)
	return harness{a: a, b: b, short: 50 * time.Millisecond, expire: func(t *testing.T, k Key) {
		t.Helper()
		waitFor(t, "key to expire", func() bool {
			n, err := poll.Exists(t.Context(), a.redisKey(k)[0]).Result()
			return err == nil && n == 0
		})
	}}
}

// On a 3-master cluster, scopes spread over the masters and every
// operation of a scope is served by the one master owning its slot:
// DPoP replay ids and idempotency keys work whichever node a scope lands
// on.
func TestRedisClusterOfThreeMastersSpreadsScopes(t *testing.T) {
	cl := testenv.StartRedisCluster(t, 3)
	c := newClient(t, cl.Addrs()[0], true)
	st := newRedisStore(t, c)
	owners := map[string]bool{}
	for i := range 30 {
		k := Key{Scope: "dpop:jkt-" + strconv.Itoa(i), ID: "jti-1"}
		if first, err := st.Seen(t.Context(), k, time.Minute); err != nil || !first {
			t.Fatalf("Seen %v: %v %v", k, first, err)
		}
		if first, err := st.Seen(t.Context(), k, time.Minute); err != nil || first {
			t.Fatalf("replayed %v: first %v %v", k, first, err)
		}
		node, err := c.(*redis.ClusterClient).MasterForKey(t.Context(), st.redisKey(k)[0])
		if err != nil {
			t.Fatal(err)
		}
		owners[node.Options().Addr] = true
	}
	if len(owners) != 3 {
		t.Fatalf("30 scopes landed on %d masters, want all 3: %v", len(owners), owners)
	}
}

// waitFor polls cond, which waits on another process, for at most 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // waiting on redis-server: no clock to inject
	}
}

// The key layout is the Cluster contract: prefix{Scope}ID, one hash, with
// a TTL set by Redis.
func TestRedisKeyLayout(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	c := newClient(t, r.Addr(), false)
	st := newRedisStore(t, c)
	k := Key{Scope: "client-7", ID: "jti-1"}
	if _, ok, err := st.Reserve(t.Context(), k, "owner-1", []byte("fp"), time.Minute); err != nil || !ok {
		t.Fatalf("Reserve: %v %v", ok, err)
	}
	const raw = testPrefix + "{client-7}jti-1"
	got, err := c.HGetAll(t.Context(), raw).Result()
	if err != nil || len(got) != 3 || got["s"] != "1" || got["o"] != "owner-1" || got["m"] != "fp" {
		t.Fatalf("HGETALL %s = %v, %v", raw, got, err)
	}
	if ttl, err := c.PTTL(t.Context(), raw).Result(); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("PTTL = %v, %v", ttl, err)
	}
}

// Entries of one Scope share a slot whatever their ID (even one with
// braces), so a caller can keep related keys on one node.
func TestRedisClusterScopeIsTheHashTag(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{Cluster: true})
	c := newClient(t, r.Addr(), true)
	st := newRedisStore(t, c)
	want, err := c.ClusterKeySlot(t.Context(), "tenant-9").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "idem:b", "{c}", "}d{"} {
		k := st.redisKey(Key{Scope: "tenant-9", ID: id})[0]
		if got, err := c.ClusterKeySlot(t.Context(), k).Result(); err != nil || got != want {
			t.Errorf("slot of %q = %d, %v; want %d", k, got, err, want)
		}
	}
}

// What is under our prefix but not ours (a bug elsewhere, an operator's
// write) is an error, never a panic or a wrong answer.
func TestRedisForeignValues(t *testing.T) {
	r := testenv.StartRedis(t, testenv.RedisOptions{})
	c := newClient(t, r.Addr(), false)
	st := newRedisStore(t, c)
	cases := []struct {
		name  string
		write func(raw string) error
	}{
		{"a string", func(raw string) error { return c.Set(t.Context(), raw, "x", time.Minute).Err() }},
		{"a hash with an unknown state", func(raw string) error { return c.HSet(t.Context(), raw, "s", "7", "o", "x").Err() }},
		{"a hash with a non-numeric state", func(raw string) error { return c.HSet(t.Context(), raw, "s", "done").Err() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := Key{Scope: "s", ID: tc.name}
			if err := tc.write(st.redisKey(k)[0]); err != nil {
				t.Fatal(err)
			}
			if _, _, err := st.Get(t.Context(), k); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Get = %v, want ErrUnavailable", err)
			}
			if _, _, err := st.Reserve(t.Context(), k, "o", nil, time.Minute); !errors.Is(err, ErrUnavailable) {
				t.Errorf("Reserve = %v, want ErrUnavailable", err)
			}
		})
	}
}

// Unreachable Redis: every operation returns ErrUnavailable (within the
// client's timeouts), and the store works again once Redis is back.
func TestRedisUnavailable(t *testing.T) {
	ops := []struct {
		name string
		do   func(t *testing.T, st *Redis, k Key) error
	}{
		{"reserve", func(t *testing.T, st *Redis, k Key) error {
			_, _, err := st.Reserve(t.Context(), k, "o2", nil, time.Minute)
			return err
		}},
		{"seen", func(t *testing.T, st *Redis, k Key) error { _, err := st.Seen(t.Context(), k, time.Minute); return err }},
		{"get", func(t *testing.T, st *Redis, k Key) error { _, _, err := st.Get(t.Context(), k); return err }},
		{"extend", func(t *testing.T, st *Redis, k Key) error { return st.Extend(t.Context(), k, "o1", time.Hour) }},
		{"complete", func(t *testing.T, st *Redis, k Key) error {
			return st.Complete(t.Context(), k, "o1", Done, []byte("v"), time.Hour)
		}},
		{"release", func(t *testing.T, st *Redis, k Key) error { return st.Release(t.Context(), k, "o1") }},
	}
	outages := []struct {
		name string
		// down makes Redis unreachable and returns what brings it back.
		down func(r *testenv.Redis, p *testenv.Proxy) (up func())
		// kept: whether entries written before survive the outage.
		kept bool
	}{
		{"partition", func(_ *testenv.Redis, p *testenv.Proxy) func() { p.Cut(); return p.Restore }, true},
		// A restart also empties the script cache: EVALSHA falls back to EVAL.
		// Without persistence it forgets every entry (see Redis's doc).
		{"restart", func(r *testenv.Redis, _ *testenv.Proxy) func() { r.Stop(); return r.Start }, false},
	}
	for _, o := range outages {
		t.Run(o.name, func(t *testing.T) {
			r := testenv.StartRedis(t, testenv.RedisOptions{})
			p := testenv.NewProxy(t, r.Addr())
			st := newRedisStore(t, newClient(t, p.Addr(), false))
			k := Key{Scope: "s", ID: "held"}
			mustReserve(t, st, k, "o1", time.Hour)
			up := o.down(r, p)
			for _, op := range ops {
				if err := op.do(t, st, k); !errors.Is(err, ErrUnavailable) {
					t.Errorf("%s while down = %v, want ErrUnavailable", op.name, err)
				}
			}
			up()
			waitFor(t, "the store to answer again", func() bool {
				_, _, err := st.Get(t.Context(), k)
				return err == nil
			})
			if o.kept {
				checkEntry(t, mustGet(t, st, k), InFlight, "fp-o1", "", time.Hour)
				return
			}
			mustAbsent(t, st, k)
			mustReserve(t, st, k, "o1", time.Hour)
		})
	}
}

func TestNewRedisRefuses(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	t.Cleanup(func() { _ = c.Close() })
	cases := []struct {
		name   string
		client redis.UniversalClient
		prefix string
		limits Limits
		want   string
	}{
		{"nil client", nil, "p:", Limits{}, "nil redis client"},
		{"prefix with a brace", c, "p{x}:", Limits{}, "brace"},
		{"negative limit", c, "p:", Limits{MaxValueBytes: -1}, "negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewRedis(tc.client, tc.prefix, tc.limits); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
