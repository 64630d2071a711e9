package config

import (
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	// Calendar quotas resolve rate_limits.time_zone at load time; embedding
	// the zone database keeps that working on minimal images without
	// /usr/share/zoneinfo.
	_ "time/tzdata"
)

// RateLimits configures rate-limit policies, their stores, brute-force
// defence and IP allow/deny lists.
type RateLimits struct {
	// Store is where limiter state lives. Default: the in-process memory
	// store.
	Store RateLimitStore `yaml:"store"`
	// Instances is how many gateway instances share the Redis store. When
	// Redis is unreachable, policies with on_store_error: local fall back to
	// an in-process limiter with every limit divided by this number, so the
	// cluster as a whole stays near the configured limit. Default 1.
	Instances int `yaml:"instances"`
	// TimeZone is the IANA zone calendar quotas (day, week, month) roll over
	// in, e.g. "Europe/Berlin". Default "UTC".
	TimeZone TimeZone `yaml:"time_zone"`
	// LegacyHeaders also sends X-RateLimit-Limit, X-RateLimit-Remaining and
	// X-RateLimit-Reset (seconds) for the most restrictive policy. Default
	// false: only the IETF RateLimit-Policy and RateLimit fields are sent.
	LegacyHeaders bool `yaml:"legacy_headers"`
	// Policies are the named limits routes, Global and Tiers refer to.
	Policies []RateLimitPolicy `yaml:"policies"`
	// Global names policies applied to every route. Default: none.
	Global []string `yaml:"global"`
	// Tiers map a credential's tier (Principal.Tier, set by the key store)
	// to the policies that replace a route's own rate_limits for callers of
	// that tier. Routes without rate_limits are not affected; Global
	// policies always apply. Default: none.
	Tiers map[string][]string `yaml:"tiers"`
	// BruteForce blocks sources of repeated failed authentication.
	BruteForce BruteForce `yaml:"brute_force"`
	// IPAllow, when not empty, admits only client IPs in these CIDRs (or
	// single addresses) on every route. Checked before routing. Default:
	// empty (all addresses).
	IPAllow []Prefix `yaml:"ip_allow"`
	// IPDeny rejects client IPs in these CIDRs with 403 on every route,
	// before routing. Default: empty.
	IPDeny []Prefix `yaml:"ip_deny"`
}

// RateLimitStore selects and configures the limiter state store.
type RateLimitStore struct {
	// Type is "memory" (default: state is per instance) or "redis" (state
	// shared by every instance pointing at the same Redis).
	Type string `yaml:"type"`
	// MaxKeys bounds how many keys the in-process store holds (it is also
	// the fallback when Redis is down). When full, expired keys are dropped
	// first, then the keys nearest to expiry, so a flood of distinct keys
	// (spoofed IPs, random header values) cannot grow memory without bound.
	// Default 1000000 (about 53 MiB when full, measured by bench/ratelimit).
	MaxKeys int `yaml:"max_keys"`
	// Redis configures the Redis server. Required when Type is "redis".
	Redis *RedisConfig `yaml:"redis"`
}

// RedisConfig is a connection to one Redis server (standalone or a primary
// behind a stable address).
type RedisConfig struct {
	// Address is host:port. Required unless Sentinel is set.
	Address string `yaml:"address"`
	// Sentinel finds the primary through Redis Sentinel (and follows it
	// through failovers) instead of a fixed Address.
	Sentinel *RedisSentinel `yaml:"sentinel"`
	// Cluster connects to a Redis Cluster (as managed Redis offerings at
	// scale are) instead of a fixed Address: every key of one consumer,
	// client or source hashes to one slot, so each check stays one atomic
	// script. Mutually exclusive with Address and Sentinel.
	Cluster *RedisCluster `yaml:"cluster"`
	// Username for Redis ACLs. Default: none.
	Username string `yaml:"username"`
	// Password; write it as ${ENV_VAR}, never inline. Default: none.
	Password string `yaml:"password"`
	// DB is the database number. Default 0.
	DB int `yaml:"db"`
	// TLS, when set, connects with TLS 1.2+ and verifies the server.
	TLS *RedisTLS `yaml:"tls"`
	// KeyPrefix starts every key Portcullis writes. Default "portcullis:".
	KeyPrefix string `yaml:"key_prefix"`
	// DialTimeout bounds connecting. Default 500ms.
	DialTimeout Duration `yaml:"dial_timeout"`
	// Timeout bounds one command (read and write), after which the request
	// falls back as its policy's on_store_error says. Default 100ms.
	Timeout Duration `yaml:"timeout"`
	// PoolSize is the connection pool size. Default 10 per CPU.
	PoolSize int `yaml:"pool_size"`
	// RetryInterval is how long Redis is left alone after a failure before
	// one request probes it again; recovery is automatic. Default 1s.
	RetryInterval Duration `yaml:"retry_interval"`
	// HealthInterval is how often an instance checks, without waiting for
	// traffic, that Redis answers: /readyz and the store_up metric follow
	// it. Default 1s.
	HealthInterval Duration `yaml:"health_interval"`
	// BlockSync is how often an instance asks Redis whether any brute-force
	// block is in force, so requests skip the per-request block lookup
	// while none is. A block imposed by another instance is enforced here
	// within this interval (the imposing instance enforces it at once).
	// Default 1s.
	BlockSync Duration `yaml:"block_sync"`
}

// RedisSentinel is a Redis Sentinel deployment: the primary of MasterName
// is asked of Addresses and followed through failovers.
type RedisSentinel struct {
	// MasterName is the name the sentinels monitor. Required.
	MasterName string `yaml:"master_name"`
	// Addresses are sentinels' host:port. At least one.
	Addresses []string `yaml:"addresses"`
	// Username and Password authenticate to the sentinels (write the
	// password as ${ENV_VAR}). Default: none.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// RedisCluster is a Redis Cluster, found from any of its nodes.
type RedisCluster struct {
	// Addresses are host:port of cluster nodes to discover the others
	// from (the slot map is followed through resharding and failovers).
	// At least one.
	Addresses []string `yaml:"addresses"`
}

// RedisTLS is TLS to Redis.
type RedisTLS struct {
	// CAFile is a PEM bundle trusted for the server certificate. Default:
	// the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name verified in the certificate. Default:
	// the host of Address.
	ServerName string `yaml:"server_name"`
}

// RateLimitPolicy is one named limit. Any of Rate, Quota and Concurrency
// may be set (at least one); a request must pass all of them.
type RateLimitPolicy struct {
	// Name identifies the policy in routes, tiers, headers and metrics.
	// Required, unique.
	Name string `yaml:"name"`
	// Key is what the limit is counted per; several parts make a composite
	// key. Parts: consumer, api_key, client_ip, route, header:<Name>,
	// claim:<name>. Default [consumer].
	Key []string `yaml:"key"`
	// OnMissingKey is what happens when a key part is absent (no principal,
	// no such header or claim): "client_ip" (default) counts the request
	// per client IP instead; "skip" does not apply the policy.
	OnMissingKey string `yaml:"on_missing_key"`
	// Rate is a smooth rate limit (GCRA).
	Rate *RateSpec `yaml:"rate"`
	// Quota is a calendar quota.
	Quota *QuotaSpec `yaml:"quota"`
	// Concurrency is the most requests one key may have in flight. Default
	// 0: no concurrency limit.
	Concurrency int `yaml:"concurrency"`
	// Costs weigh requests (rate and quota units); the first matching entry
	// wins. Default: every request costs 1.
	Costs []RateCost `yaml:"costs"`
	// OnStoreError is what happens when Redis is unreachable: "local"
	// (default: an in-process limiter with limits divided by instances),
	// "allow" (not limited) or "deny" (503).
	OnStoreError string `yaml:"on_store_error"`
}

// RateSpec is Limit requests per Period with bursts up to Burst.
type RateSpec struct {
	// Limit is the sustained number of requests (cost units) per Period.
	// Required, at least 1.
	Limit int64 `yaml:"limit"`
	// Period is the length of the window Limit applies to, e.g. 1s, 1m.
	// Required.
	Period Duration `yaml:"period"`
	// Burst is how many requests may arrive at once after a quiet spell.
	// Default: Limit.
	Burst int64 `yaml:"burst"`
}

// QuotaSpec is Limit requests per calendar Period.
type QuotaSpec struct {
	// Limit is the number of requests (cost units) per period. Required.
	Limit int64 `yaml:"limit"`
	// Period is "hour", "day", "week" (starting Monday) or "month", in
	// rate_limits.time_zone. Required.
	Period string `yaml:"period"`
}

// RateCost gives matching requests a weight.
type RateCost struct {
	// Routes the entry applies to. Default: every route.
	Routes []string `yaml:"routes"`
	// Methods the entry applies to. Default: every method.
	Methods []string `yaml:"methods"`
	// Cost is the number of units a matching request consumes. Required,
	// at least 1 and at most the policy's burst and quota limit.
	Cost int64 `yaml:"cost"`
}

// BruteForce counts failed authentications (401) per client IP and per
// presented credential (API key id or token subject) and blocks a source
// that passes a threshold, for longer on each repeat offence. Blocked
// sources get 429 with Retry-After. Blocks are shared through Redis when the
// store is Redis.
type BruteForce struct {
	// Enabled turns the defence on. Default true.
	Enabled *bool `yaml:"enabled"`
	// Window is how long failures are counted before the count restarts.
	// Default 10m.
	Window Duration `yaml:"window"`
	// IPThreshold failures from one client IP within Window block that IP.
	// Default 20 (higher than the credential threshold because offices and
	// mobile carriers share addresses). 0 disables IP blocking.
	IPThreshold *int `yaml:"ip_threshold"`
	// CredentialThreshold failures presenting one key id or subject from
	// one client IP within Window block that credential from that IP, even
	// with the right secret. Never the credential everywhere: key ids are
	// not secret, and anyone who knows one could lock its owner out.
	// Default 10. 0 disables credential blocking.
	CredentialThreshold *int `yaml:"credential_threshold"`
	// Block is the block ladder: the first offence blocks for Block[0], the
	// second for Block[1], and so on, the last entry repeating. Default
	// [1m, 5m, 1h].
	Block []Duration `yaml:"block"`
	// ForgetAfter is how long a source must go without a new block for its
	// offence count to return to zero. Default 24h.
	ForgetAfter Duration `yaml:"forget_after"`
}

// Rate-limit defaults.
const (
	DefaultRateLimitStore       = "memory"
	DefaultRateLimitMaxKeys     = 1_000_000
	DefaultRateLimitInstances   = 1
	DefaultRateLimitTimeZone    = "UTC"
	DefaultRedisKeyPrefix       = "portcullis:"
	DefaultRedisDialTimeout     = 500 * time.Millisecond
	DefaultRedisTimeout         = 100 * time.Millisecond
	DefaultRedisRetryInterval   = time.Second
	DefaultRedisBlockSync       = time.Second
	DefaultRedisHealthInterval  = time.Second
	DefaultOnStoreError         = "local"
	DefaultOnMissingKey         = "client_ip"
	DefaultBruteForceWindow     = 10 * time.Minute
	DefaultBruteForceIP         = 20
	DefaultBruteForceCredential = 10
	DefaultBruteForceForget     = 24 * time.Hour
)

// DefaultBruteForceBlock is the default block ladder.
func DefaultBruteForceBlock() []Duration {
	return []Duration{Duration(time.Minute), Duration(5 * time.Minute), Duration(time.Hour)}
}

func (RateLimits) defaults() any {
	return RateLimits{Instances: DefaultRateLimitInstances, TimeZone: TimeZone{name: DefaultRateLimitTimeZone, loc: time.UTC}}
}

func (RateLimitStore) defaults() any {
	return RateLimitStore{Type: DefaultRateLimitStore, MaxKeys: DefaultRateLimitMaxKeys}
}

func (RedisConfig) defaults() any {
	return RedisConfig{
		KeyPrefix:      DefaultRedisKeyPrefix,
		DialTimeout:    Duration(DefaultRedisDialTimeout),
		Timeout:        Duration(DefaultRedisTimeout),
		RetryInterval:  Duration(DefaultRedisRetryInterval),
		BlockSync:      Duration(DefaultRedisBlockSync),
		HealthInterval: Duration(DefaultRedisHealthInterval),
		PoolSize:       10 * runtime.GOMAXPROCS(0),
	}
}

func (RateLimitPolicy) defaults() any {
	return RateLimitPolicy{Key: []string{"consumer"}, OnMissingKey: DefaultOnMissingKey, OnStoreError: DefaultOnStoreError}
}

// BruteForce thresholds of 0 mean "off", so only an absent key takes the
// default.
func (BruteForce) defaults() any {
	return BruteForce{
		Enabled:             ptr(true),
		Window:              Duration(DefaultBruteForceWindow),
		IPThreshold:         ptr(DefaultBruteForceIP),
		CredentialThreshold: ptr(DefaultBruteForceCredential),
		Block:               DefaultBruteForceBlock(),
		ForgetAfter:         Duration(DefaultBruteForceForget),
	}
}

// quotaPeriods are the calendar periods a quota may use (read-only).
var quotaPeriods = map[string]bool{"hour": true, "day": true, "week": true, "month": true}

func (c *Config) validateRateLimits(errs *Errors) {
	rl := &c.RateLimits
	const base = "rate_limits"
	validateRateLimitStore(errs, Join(base, "store"), &rl.Store)
	if rl.Instances < 1 || rl.Instances > 1000 {
		errs.Add(Join(base, "instances"), "must be between 1 and 1000")
	}

	routes := map[string]bool{}
	for _, r := range c.Routes {
		routes[r.Name] = true
	}
	policies := map[string]bool{}
	for i := range rl.Policies {
		p := &rl.Policies[i]
		pp := Index(Join(base, "policies"), i)
		switch {
		case p.Name == "":
			errs.Add(Join(pp, "name"), "is required")
		case !nameRe.MatchString(p.Name):
			errs.Add(Join(pp, "name"), "must match %s", nameRe)
		case policies[p.Name]:
			errs.Add(Join(pp, "name"), "duplicate policy name %q", p.Name)
		}
		policies[p.Name] = true
		p.validate(errs, pp, routes)
	}
	knownPolicies := func(path string, names []string) {
		seen := map[string]bool{}
		for j, n := range names {
			switch {
			case !policies[n]:
				errs.Add(Index(path, j), "unknown policy %q", n)
			case seen[n]:
				errs.Add(Index(path, j), "duplicate policy %q", n)
			}
			seen[n] = true
		}
	}
	knownPolicies(Join(base, "global"), rl.Global)
	for _, tier := range slices.Sorted(maps.Keys(rl.Tiers)) { // stable error order
		names := rl.Tiers[tier]
		tp := Join(Join(base, "tiers"), tier)
		if !nameRe.MatchString(tier) {
			errs.Add(tp, "tier name must match %s", nameRe)
		}
		if len(names) == 0 {
			errs.Add(tp, "must name at least one policy")
		}
		knownPolicies(tp, names)
	}
	validateBruteForce(errs, Join(base, "brute_force"), &rl.BruteForce)

	for i, r := range c.Routes {
		rp := Index("routes", i)
		knownPolicies(Join(rp, "rate_limits"), r.RateLimits)
	}
}

func validateRateLimitStore(errs *Errors, p string, s *RateLimitStore) {
	switch s.Type {
	case "memory":
		if s.Redis != nil {
			errs.Add(Join(p, "redis"), "is set but type is \"memory\" (set type: redis)")
		}
	case "redis":
		if s.Redis == nil {
			errs.Add(Join(p, "redis"), "is required when type is \"redis\"")
		}
	default:
		errs.Add(Join(p, "type"), "must be \"memory\" or \"redis\", got %q", s.Type)
	}
	if s.MaxKeys < 1000 || s.MaxKeys > 100_000_000 {
		errs.Add(Join(p, "max_keys"), "must be between 1000 and 100000000")
	}
	r := s.Redis
	if r == nil {
		return
	}
	rp := Join(p, "redis")
	if sn := r.Sentinel; sn != nil {
		sp := Join(rp, "sentinel")
		if r.Address != "" {
			errs.Add(Join(rp, "address"), "must be empty when sentinel is set (the sentinels name the primary)")
		}
		if sn.MasterName == "" {
			errs.Add(Join(sp, "master_name"), "is required")
		}
		if len(sn.Addresses) == 0 {
			errs.Add(Join(sp, "addresses"), "needs at least one sentinel (host:port)")
		}
		for i, a := range sn.Addresses {
			validAddress(errs, Index(Join(sp, "addresses"), i), a)
		}
		if r.Cluster != nil {
			errs.Add(Join(rp, "cluster"), "and sentinel are mutually exclusive")
		}
	} else if cl := r.Cluster; cl != nil {
		cp := Join(rp, "cluster")
		if r.Address != "" {
			errs.Add(Join(rp, "address"), "must be empty when cluster is set (cluster.addresses name the nodes)")
		}
		if len(cl.Addresses) == 0 {
			errs.Add(Join(cp, "addresses"), "needs at least one cluster node (host:port)")
		}
		for i, a := range cl.Addresses {
			validAddress(errs, Index(Join(cp, "addresses"), i), a)
		}
		if r.DB != 0 {
			errs.Add(Join(rp, "db"), "must be 0 with cluster (Redis Cluster has one database)")
		}
		if strings.ContainsAny(r.KeyPrefix, "{}") {
			errs.Add(Join(rp, "key_prefix"), "must not contain { or } with cluster: the hash tag that keeps a consumer's keys in one slot comes after it")
		}
	} else {
		validAddress(errs, Join(rp, "address"), r.Address)
	}
	if r.DB < 0 || r.DB > 1023 {
		errs.Add(Join(rp, "db"), "must be between 0 and 1023")
	}
	if r.PoolSize < 1 || r.PoolSize > 10000 {
		errs.Add(Join(rp, "pool_size"), "must be between 1 and 10000")
	}
	if strings.ContainsAny(r.KeyPrefix, " \t\r\n") {
		errs.Add(Join(rp, "key_prefix"), "must not contain whitespace")
	}
	if strings.ContainsAny(r.KeyPrefix, "{}") {
		// Entries shared through package sharedstate (DPoP proof jti
		// values) put their Redis Cluster hash tag after the prefix.
		errs.Add(Join(rp, "key_prefix"), "must not contain { or }")
	}
	if r.DialTimeout.D() < time.Millisecond {
		errs.Add(Join(rp, "dial_timeout"), "must be at least 1ms")
	}
	if r.Timeout.D() < time.Millisecond {
		errs.Add(Join(rp, "timeout"), "must be at least 1ms")
	}
	if r.RetryInterval.D() < 10*time.Millisecond {
		errs.Add(Join(rp, "retry_interval"), "must be at least 10ms")
	}
	if d := r.BlockSync.D(); d < 10*time.Millisecond || d > time.Minute {
		errs.Add(Join(rp, "block_sync"), "must be between 10ms and 1m")
	}
	if d := r.HealthInterval.D(); d < 100*time.Millisecond || d > time.Minute {
		errs.Add(Join(rp, "health_interval"), "must be between 100ms and 1m")
	}
}

func (p *RateLimitPolicy) validate(errs *Errors, pp string, routes map[string]bool) {
	if p.Rate == nil && p.Quota == nil && p.Concurrency == 0 {
		errs.Add(pp, "needs at least one of rate, quota, concurrency")
	}
	if len(p.Key) == 0 {
		errs.Add(Join(pp, "key"), "needs at least one part (leave it out for [consumer])")
	}
	seen := map[string]bool{}
	for j, k := range p.Key {
		kp := Index(Join(pp, "key"), j)
		kind, arg, hasArg := strings.Cut(k, ":")
		switch {
		case !hasArg && (kind == "consumer" || kind == "api_key" || kind == "client_ip" || kind == "route"):
		case hasArg && kind == "header":
			validHeaderName(errs, kp, arg)
		case hasArg && kind == "claim":
			if arg == "" || len(arg) > 128 {
				errs.Add(kp, "claim name must be 1 to 128 characters")
			}
		default:
			errs.Add(kp, "must be consumer, api_key, client_ip, route, header:<Name> or claim:<name>; got %q", k)
		}
		if seen[k] {
			errs.Add(kp, "duplicate key part %q", k)
		}
		seen[k] = true
	}
	switch p.OnMissingKey {
	case "client_ip", "skip":
	default:
		errs.Add(Join(pp, "on_missing_key"), "must be \"client_ip\" or \"skip\", got %q", p.OnMissingKey)
	}
	switch p.OnStoreError {
	case "local", "allow", "deny":
	default:
		errs.Add(Join(pp, "on_store_error"), "must be one of local, allow, deny; got %q", p.OnStoreError)
	}
	if r := p.Rate; r != nil {
		rp := Join(pp, "rate")
		switch {
		case r.Limit < 1 || r.Limit > 1_000_000_000:
			errs.Add(Join(rp, "limit"), "must be between 1 and 1000000000")
		case r.Period.D() < time.Millisecond || r.Period.D() > 366*24*time.Hour:
			errs.Add(Join(rp, "period"), "must be between 1ms and 366d")
		case r.Period.D()/time.Duration(r.Limit) < time.Microsecond:
			errs.Add(rp, "limit/period is finer than one request per microsecond")
		}
		if r.Burst < 1 || r.Burst > 1_000_000_000 {
			errs.Add(Join(rp, "burst"), "must be between 1 and 1000000000")
		} else if r.Limit >= 1 && float64(r.Burst)*float64(r.Period)/float64(r.Limit) > float64(366*24*time.Hour) {
			// The burst is stored as burst × (period / limit) of time.
			errs.Add(Join(rp, "burst"), "must not take longer than 366d to refill (burst × period / limit)")
		}
	}
	if q := p.Quota; q != nil {
		qp := Join(pp, "quota")
		if q.Limit < 1 || q.Limit > 1_000_000_000_000 {
			errs.Add(Join(qp, "limit"), "must be between 1 and 1000000000000")
		}
		if !quotaPeriods[q.Period] {
			errs.Add(Join(qp, "period"), "must be one of hour, day, week, month; got %q", q.Period)
		}
	}
	if p.Concurrency < 0 || p.Concurrency > 1_000_000 {
		errs.Add(Join(pp, "concurrency"), "must be between 0 (none) and 1000000")
	}
	for j, cst := range p.Costs {
		cp := Index(Join(pp, "costs"), j)
		switch {
		case cst.Cost < 1:
			errs.Add(Join(cp, "cost"), "must be at least 1")
		case p.Rate != nil && p.Rate.Burst >= 1 && cst.Cost > p.Rate.Burst:
			errs.Add(Join(cp, "cost"), "must not exceed rate.burst (%d): such a request could never pass", p.Rate.Burst)
		case p.Quota != nil && cst.Cost > p.Quota.Limit:
			errs.Add(Join(cp, "cost"), "must not exceed quota.limit (%d): such a request could never pass", p.Quota.Limit)
		}
		for k, r := range cst.Routes {
			if !routes[r] {
				errs.Add(Index(Join(cp, "routes"), k), "unknown route %q", r)
			}
		}
		for k, m := range cst.Methods {
			if !knownMethods[m] {
				errs.Add(Index(Join(cp, "methods"), k), "unknown method %q", m)
			}
		}
	}
}

func validateBruteForce(errs *Errors, p string, bf *BruteForce) {
	if bf.Window.D() < time.Second {
		errs.Add(Join(p, "window"), "must be at least 1s")
	}
	if *bf.IPThreshold < 0 || *bf.IPThreshold > 1_000_000 {
		errs.Add(Join(p, "ip_threshold"), "must be between 0 (off) and 1000000")
	}
	if *bf.CredentialThreshold < 0 || *bf.CredentialThreshold > 1_000_000 {
		errs.Add(Join(p, "credential_threshold"), "must be between 0 (off) and 1000000")
	}
	var longest Duration
	for i, d := range bf.Block {
		if d.D() < time.Second {
			errs.Add(Index(Join(p, "block"), i), "must be at least 1s")
		}
		if i > 0 && d < bf.Block[i-1] {
			errs.Add(Index(Join(p, "block"), i), "must not be shorter than the step before it")
		}
		longest = max(longest, d)
	}
	if len(bf.Block) == 0 {
		errs.Add(Join(p, "block"), "needs at least one step (leave it out for [1m, 5m, 1h])")
	}
	if len(bf.Block) > 32 {
		errs.Add(Join(p, "block"), "must have at most 32 steps")
	}
	if bf.ForgetAfter < longest {
		errs.Add(Join(p, "forget_after"), "must be at least the longest block (%s)", longest)
	}
}
