package config

import (
	"strings"
	"testing"
	"time"
)

const rlBase = `
listeners:
  - address: "127.0.0.1:8443"
    insecure: true
upstreams:
  - name: up
    targets: ["http://127.0.0.1:9000"]
routes:
  - name: r1
    path: /r1
    upstream: up
    auth: none
`

func TestRateLimitDefaults(t *testing.T) {
	cfg, err := Parse([]byte(rlBase+`
rate_limits:
  policies:
    - name: p
      rate: {limit: 10, period: 1s}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	rl := cfg.RateLimits
	p := rl.Policies[0]
	switch {
	case rl.Store.Type != "memory", rl.Store.MaxKeys != 1_000_000, rl.Instances != 1, rl.TimeZone.Name() != "UTC", rl.LegacyHeaders:
		t.Fatalf("store defaults: %+v", rl)
	case len(p.Key) != 1 || p.Key[0] != "consumer", p.OnMissingKey != "client_ip", p.OnStoreError != "local", p.Rate.Burst != 10:
		t.Fatalf("policy defaults: %+v", p)
	}
	bf := rl.BruteForce
	if !*bf.Enabled || *bf.IPThreshold != 20 || *bf.CredentialThreshold != 10 || bf.Window.D() != 10*time.Minute ||
		len(bf.Block) != 3 || bf.Block[2].D() != time.Hour || bf.ForgetAfter.D() != 24*time.Hour {
		t.Fatalf("brute-force defaults: %+v", bf)
	}
}

func TestRateLimitRedisFromEnv(t *testing.T) {
	env := map[string]string{"REDIS_PASSWORD": "hunter2-not-real"}
	cfg, err := Parse([]byte(rlBase+`
rate_limits:
  store:
    type: redis
    redis:
      address: 10.0.0.5:6379
      password: ${REDIS_PASSWORD}
  brute_force:
    ip_threshold: 0
`), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.RateLimits.Store.Redis
	if r.Password != "hunter2-not-real" || r.KeyPrefix != "portcullis:" || r.Timeout.D() != 100*time.Millisecond ||
		r.DialTimeout.D() != 500*time.Millisecond || r.RetryInterval.D() != time.Second || r.BlockSync.D() != time.Second {
		t.Fatalf("redis: %+v", r)
	}
	if *cfg.RateLimits.BruteForce.IPThreshold != 0 {
		t.Fatal("an explicit 0 threshold was replaced by the default")
	}
}

func TestRateLimitValidation(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"store", `
rate_limits:
  store: {type: disk, max_keys: 10}
  instances: -1
  time_zone: Mars/Olympus
`, []string{
			`rate_limits.store.type: must be "memory" or "redis", got "disk"`,
			"rate_limits.store.max_keys: must be between 1000 and 100000000",
			"rate_limits.instances: must be between 1 and 1000",
			`rate_limits.time_zone: unknown time zone "Mars/Olympus" (use an IANA name such as Europe/Berlin)`,
		}},
		{"redis", `
rate_limits:
  store:
    type: redis
    redis: {address: "nohost", db: -1, timeout: 0s, key_prefix: "a b", block_sync: 5ms}
`, []string{
			`rate_limits.store.redis.address: must be host:port, got "nohost"`,
			"rate_limits.store.redis.db: must be between 0 and 1023",
			"rate_limits.store.redis.key_prefix: must not contain whitespace",
			// An explicit 0s is kept (never replaced by the default) and refused.
			"rate_limits.store.redis.timeout: must be at least 1ms",
			"rate_limits.store.redis.block_sync: must be between 10ms and 1m",
		}},
		{"redis sentinel", `
rate_limits:
  store:
    type: redis
    redis:
      address: "127.0.0.1:6379"
      sentinel: {addresses: ["127.0.0.1:26379", "nohost"]}
`, []string{
			"rate_limits.store.redis.address: must be empty when sentinel is set (the sentinels name the primary)",
			"rate_limits.store.redis.sentinel.master_name: is required",
			`rate_limits.store.redis.sentinel.addresses[1]: must be host:port, got "nohost"`,
		}},
		{"redis sentinel without sentinels", `
rate_limits:
  store:
    type: redis
    redis: {sentinel: {master_name: pc}}
`, []string{"rate_limits.store.redis.sentinel.addresses: needs at least one sentinel (host:port)"}},
		{"redis block without type", `
rate_limits:
  store: {redis: {address: "127.0.0.1:6379"}}
`, []string{`rate_limits.store.redis: is set but type is "memory" (set type: redis)`}},
		{"redis type without block", `
rate_limits:
  store: {type: redis}
`, []string{`rate_limits.store.redis: is required when type is "redis"`}},
		{"policies", `
rate_limits:
  policies:
    - name: empty
    - name: p
      key: [consumer, ip, "header:", "claim:", consumer]
      on_missing_key: deny
      on_store_error: retry
      rate: {limit: 0, period: 1s}
      quota: {limit: 5, period: year}
      concurrency: -1
      costs:
        - {cost: 0}
        - {cost: 6, routes: [nope], methods: [get]}
    - name: p
      rate: {limit: 2000, period: 1ms}
    - name: q
      rate: {limit: 1, period: 1d, burst: 400}
`, []string{
			"rate_limits.policies[0]: needs at least one of rate, quota, concurrency",
			`rate_limits.policies[1].key[1]: must be consumer, api_key, client_ip, route, header:<Name> or claim:<name>; got "ip"`,
			"rate_limits.policies[1].key[2]: must not be empty",
			"rate_limits.policies[1].key[3]: claim name must be 1 to 128 characters",
			`rate_limits.policies[1].key[4]: duplicate key part "consumer"`,
			`rate_limits.policies[1].on_missing_key: must be "client_ip" or "skip", got "deny"`,
			`rate_limits.policies[1].on_store_error: must be one of local, allow, deny; got "retry"`,
			"rate_limits.policies[1].rate.limit: must be between 1 and 1000000000",
			"rate_limits.policies[1].rate.burst: must be between 1 and 1000000000",
			`rate_limits.policies[1].quota.period: must be one of hour, day, week, month; got "year"`,
			"rate_limits.policies[1].concurrency: must be between 0 (none) and 1000000",
			"rate_limits.policies[1].costs[0].cost: must be at least 1",
			"rate_limits.policies[1].costs[1].cost: must not exceed quota.limit (5): such a request could never pass",
			`rate_limits.policies[1].costs[1].routes[0]: unknown route "nope"`,
			`rate_limits.policies[1].costs[1].methods[0]: unknown method "get"`,
			`rate_limits.policies[2].name: duplicate policy name "p"`,
			"rate_limits.policies[2].rate: limit/period is finer than one request per microsecond",
			"rate_limits.policies[3].rate.burst: must not take longer than 366d to refill (burst × period / limit)",
		}},
		{"references and lists", `
rate_limits:
  policies:
    - name: p
      concurrency: 1
  global: [p, p, ghost]
  tiers:
    gold: [ghost]
    "bad tier": []
  ip_allow: ["10.0.0.0/33"]
  ip_deny: ["example.com"]
`, []string{
			`rate_limits.global[1]: duplicate policy "p"`,
			`rate_limits.global[2]: unknown policy "ghost"`,
			`rate_limits.tiers.gold[0]: unknown policy "ghost"`,
			"rate_limits.tiers.bad tier: tier name must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
			"rate_limits.tiers.bad tier: must name at least one policy",
			`rate_limits.ip_allow[0]: invalid CIDR "10.0.0.0/33"`,
			`rate_limits.ip_deny[0]: invalid IP address or CIDR "example.com"`,
		}},
		{"route fields", `
    rate_limits: [ghost]
    ip_allow: [nope]
    ip_deny: ["::1/200"]
`, []string{
			`routes[0].rate_limits[0]: unknown policy "ghost"`,
			`routes[0].ip_allow[0]: invalid IP address or CIDR "nope"`,
			`routes[0].ip_deny[0]: invalid CIDR "::1/200"`,
		}},
		{"brute force", `
rate_limits:
  brute_force:
    window: 10ms
    ip_threshold: -1
    credential_threshold: 2000000
    block: [1h, 1m, 500ms]
    forget_after: 30m
`, []string{
			"rate_limits.brute_force.window: must be at least 1s",
			"rate_limits.brute_force.ip_threshold: must be between 0 (off) and 1000000",
			"rate_limits.brute_force.credential_threshold: must be between 0 (off) and 1000000",
			"rate_limits.brute_force.block[1]: must not be shorter than the step before it",
			"rate_limits.brute_force.block[2]: must be at least 1s",
			"rate_limits.brute_force.block[2]: must not be shorter than the step before it",
			"rate_limits.brute_force.forget_after: must be at least the longest block (1h0m0s)",
		}},
		{"unknown key", `
rate_limits:
  policies:
    - name: p
      rate: {limit: 1, period: 1s, refill: 2}
`, []string{"rate_limits.policies[0].rate.refill: unknown field"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(rlBase+tc.yaml), func(string) (string, bool) { return "", false })
			if err == nil {
				t.Fatal("no error")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("errors:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}
