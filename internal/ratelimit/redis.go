package ratelimit

import (
	"cmp"
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlsconf"
)

var (
	//go:embed check.lua
	checkLua string
	//go:embed penalty.lua
	penaltyLua string
	//go:embed blocked.lua
	blockedLua string
	//go:embed undo.lua
	undoLua string
	//go:embed horizon.lua
	horizonLua string
)

// RedisStore is the Store shared by every gateway instance that points at
// the same Redis. Each operation is one atomic Lua script, one round trip,
// and rate and quota checks use the Redis server's clock, so clock skew
// between gateway nodes cannot over-issue.
//
// On Redis Cluster every key of one consumer, client IP or brute-force
// source carries the same hash tag (Check.Tag, or the source's digest), so
// what one script touches lives in one slot. A request whose policies are
// keyed by different things (per client IP and per consumer) is checked
// with one script per slot, run at once; if one refuses, what the others
// charged is taken back (undo.lua). Between the charge and the undo a
// concurrent request may see the higher count: the error is on the side
// of limiting, never of admitting more.
type RedisStore struct {
	client  redis.UniversalClient
	cluster bool
	prefix  string
	breaker *breaker
	// scriptNow, when set (tests only), replaces the server's TIME so
	// algorithm edges can be checked exactly against a real Redis.
	scriptNow Clock

	check, penalty, blocked, undo, horizonSet *redis.Script
	horizon                                   *blockHorizon
}

var _ Store = (*RedisStore)(nil)

// newRedisStore builds the client; it does not connect until first use.
func newRedisStore(cfg *config.RedisConfig, clock Clock, log *slog.Logger, onChange func(bool)) (*RedisStore, error) {
	var tc *tls.Config
	if t := cfg.TLS; t != nil {
		tc = tlsconf.NewClientConfig()
		tc.ServerName = t.ServerName
		if tc.ServerName == "" && cfg.Sentinel == nil && cfg.Cluster == nil {
			tc.ServerName, _, _ = net.SplitHostPort(cfg.Address)
		} // with Sentinel or Cluster, each connection verifies the host it dials
		if t.CAFile != "" {
			pool, err := tlsconf.LoadCertPool(t.CAFile)
			if err != nil {
				return nil, config.FieldError{Path: "rate_limits.store.redis.tls.ca_file", Message: err.Error()}
			}
			tc.RootCAs = pool
		}
	}
	var client redis.UniversalClient
	if cl := cfg.Cluster; cl != nil {
		// Each node's certificate is verified against the host dialled
		// (tc.ServerName stays empty unless set).
		client = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: cl.Addresses, Username: cfg.Username, Password: cfg.Password,
			DialTimeout: cfg.DialTimeout.D(), ReadTimeout: cfg.Timeout.D(), WriteTimeout: cfg.Timeout.D(),
			PoolTimeout: cfg.Timeout.D(), PoolSize: cfg.PoolSize,
			// MOVED and ASK are followed (MaxRedirects); a failed script
			// is not retried, as on a single server.
			MaxRetries: -1, DialerRetries: 1, Protocol: 2, DisableIdentity: true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
			TLSConfig:                tc,
		})
	} else if sn := cfg.Sentinel; sn != nil {
		client = redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: sn.MasterName, SentinelAddrs: sn.Addresses,
			SentinelUsername: sn.Username, SentinelPassword: sn.Password,
			Username: cfg.Username, Password: cfg.Password, DB: cfg.DB,
			DialTimeout: cfg.DialTimeout.D(), ReadTimeout: cfg.Timeout.D(), WriteTimeout: cfg.Timeout.D(),
			PoolTimeout: cfg.Timeout.D(), PoolSize: cfg.PoolSize,
			MaxRetries: -1, DialerRetries: 1, Protocol: 2, DisableIdentity: true,
			TLSConfig: tc,
		})
	} else {
		opt := &redis.Options{
			Addr:         cfg.Address,
			Username:     cfg.Username,
			Password:     cfg.Password,
			DB:           cfg.DB,
			DialTimeout:  cfg.DialTimeout.D(),
			ReadTimeout:  cfg.Timeout.D(),
			WriteTimeout: cfg.Timeout.D(),
			PoolTimeout:  cfg.Timeout.D(),
			PoolSize:     cfg.PoolSize,
			// A retried script could charge twice; the breaker and the
			// per-policy fallback handle failures instead.
			MaxRetries:      -1,
			DialerRetries:   1,
			Protocol:        2,
			DisableIdentity: true,
			MaintNotificationsConfig: &maintnotifications.Config{
				Mode: maintnotifications.ModeDisabled,
			},
			TLSConfig: tc,
		}
		client = redis.NewClient(opt)
	}
	if onChange == nil {
		onChange = func(bool) {}
	}
	s := &RedisStore{
		client:     client,
		cluster:    cfg.Cluster != nil,
		prefix:     cfg.KeyPrefix,
		breaker:    &breaker{clock: clock, retry: cfg.RetryInterval.D(), log: log, onChange: onChange},
		check:      redis.NewScript(checkLua),
		penalty:    redis.NewScript(penaltyLua),
		blocked:    redis.NewScript(blockedLua),
		undo:       redis.NewScript(undoLua),
		horizonSet: redis.NewScript(horizonLua),
	}
	s.horizon = &blockHorizon{interval: cfg.BlockSync.D(), clock: clock, timeout: max(cfg.Timeout.D(), time.Millisecond), read: s.readHorizon}
	return s, nil
}

func (s *RedisStore) horizonKey() string { return s.prefix + "bf:horizon" }

// readHorizon returns how long the longest block in force may last.
func (s *RedisStore) readHorizon(ctx context.Context) (time.Duration, error) {
	var left time.Duration
	err := s.run(ctx, func(ctx context.Context) error {
		d, err := s.client.PTTL(ctx, s.horizonKey()).Result()
		left = max(d, 0) // -2: no key, no block
		return err
	})
	return left, err
}

// MayBlock reports whether a brute-force block may be in force on any
// instance; false only when a recent read of the horizon says none is.
func (s *RedisStore) MayBlock() bool { return s.horizon.mayBlock() }

// Client is the Redis connection, which other state kept in the same Redis
// reuses (the process's shared store of idempotency keys and signature
// nonces, the security monitor's blocks): one pool, one set of settings
// (rate_limits.store.redis), a single node or a cluster.
func (s *RedisStore) Client() redis.UniversalClient { return s.client }

// Close closes the connection pool.
func (s *RedisStore) Close() error { return s.client.Close() }

// Ping checks that Redis answers: on a cluster, every master (a request
// may need any of them).
func (s *RedisStore) Ping(ctx context.Context) error {
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.Ping(ctx).Err() })
	}
	return s.client.Ping(ctx).Err()
}

// healthCheck pings Redis through the breaker (the health check): a failure
// opens it as a failed request would, a success closes it.
func (s *RedisStore) healthCheck(ctx context.Context) error {
	return s.run(ctx, func(context.Context) error { return s.Ping(ctx) })
}

// run calls fn unless the breaker is open, and records its outcome.
func (s *RedisStore) run(ctx context.Context, fn func(context.Context) error) error {
	ok, probe := s.breaker.enter()
	if !ok {
		return ErrUnavailable
	}
	// A client that goes away must not make Redis look down; go-redis's
	// own read/write timeouts bound the call instead.
	err := fn(context.WithoutCancel(ctx))
	s.breaker.done(probe, err)
	return err
}

// key is the Redis key of a store key: prefixed and, on a cluster,
// tagged so that keys with one tag share a slot.
func (s *RedisStore) key(k, tag string) string {
	if s.cluster && tag != "" {
		return s.prefix + "{" + tag + "}" + k
	}
	return s.prefix + k
}

// sourceTag is the tag of a brute-force source key ("bf:ip:<digest>"):
// its digest, so its failure, offence and block keys share a slot.
func sourceTag(k string) string { return k[strings.LastIndexByte(k, ':')+1:] }

// Check implements Store: one EVALSHA, or on a cluster one per slot.
func (s *RedisStore) Check(ctx context.Context, checks []Check) ([]Result, error) {
	groups := s.slotGroups(checks)
	if len(groups) == 1 {
		out := make([]Result, len(checks))
		_, err := s.checkGroup(ctx, checks, groups[0], out)
		return out, err
	}
	return s.checkSlots(ctx, checks, groups)
}

// slotGroups are the indexes of checks by slot tag, in first-seen order;
// one group with every check when the store is not a cluster.
func (s *RedisStore) slotGroups(checks []Check) [][]int {
	if !s.cluster {
		all := make([]int, len(checks))
		for i := range all {
			all[i] = i
		}
		return [][]int{all}
	}
	var groups [][]int
	at := map[string]int{}
	for i, c := range checks {
		g, ok := at[c.Tag]
		if !ok {
			g = len(groups)
			at[c.Tag] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// checkSlots runs one script per slot group at once. If any group
// refuses, the groups that charged are undone, so a refused request is
// charged nowhere.
func (s *RedisStore) checkSlots(ctx context.Context, checks []Check, groups [][]int) ([]Result, error) {
	out := make([]Result, len(checks))
	picks := make([][]int64, len(groups))
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for g, idx := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			picks[g], errs[g] = s.checkGroup(ctx, checks, idx, out)
		}()
	}
	wg.Wait()
	var firstErr error
	refused := false
	for g, idx := range groups {
		if errs[g] != nil {
			firstErr = cmp.Or(firstErr, errs[g])
			continue
		}
		for _, i := range idx {
			refused = refused || !out[i].Allowed
		}
	}
	if firstErr == nil && !refused {
		return out, nil
	}
	for g, idx := range groups {
		if errs[g] != nil || !allAllowed(out, idx) {
			continue // not charged
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// On failure the charge stays until its key expires:
			// over-limiting by one request's cost, never admitting more.
			_ = s.undoGroup(ctx, checks, idx, picks[g])
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

func allAllowed(res []Result, idx []int) bool {
	for _, i := range idx {
		if !res[i].Allowed {
			return false
		}
	}
	return true
}

// checkGroup runs check.lua on the checks at idx (all in one slot),
// writing their results into out at the same indexes. It returns, per
// check, the quota window the script counted in (1-3; 0 for others), for
// undoGroup.
func (s *RedisStore) checkGroup(ctx context.Context, checks []Check, idx []int, out []Result) ([]int64, error) {
	keys := make([]string, 0, len(idx)*2)
	args := make([]any, 0, 2+len(idx)*6)
	args = append(args, s.scriptNowArg(), len(idx))
	for _, i := range idx {
		c := checks[i]
		switch c.Kind {
		case KindRate:
			keys = append(keys, s.key(c.Key, c.Tag))
			args = append(args, 1, c.Cost, durUs(c.Interval), c.Burst)
		case KindQuota:
			args = append(args, 2, c.Cost, c.Limit)
			for _, w := range *c.Windows {
				keys = append(keys, s.key(c.Key+":"+strconv.FormatInt(w.Start.Unix(), 36), c.Tag))
				args = append(args, us(w.Start), us(w.End))
			}
		case KindConcurrency:
			keys = append(keys, s.key(c.Key, c.Tag))
			args = append(args, 3, 1, c.Limit, durUs(c.Lease), c.Token)
		default:
			return nil, fmt.Errorf("unknown check kind %d", c.Kind)
		}
	}
	var raw []any
	err := s.run(ctx, func(ctx context.Context) error {
		v, err := s.check.Run(ctx, s.client, keys, args...).Slice()
		raw = v
		return err
	})
	if err != nil {
		return nil, err
	}
	n := len(idx)
	if len(raw) != 1+5*n {
		return nil, errors.New("rate-limit script returned an unexpected reply")
	}
	picks := make([]int64, n)
	for j, i := range idx {
		f := raw[1+4*j : 5+4*j]
		out[i] = Result{
			Allowed:    asInt(f[0]) == 1,
			Remaining:  asInt(f[1]),
			Reset:      usDur(asInt(f[2])),
			RetryAfter: usDur(asInt(f[3])),
		}
		picks[j] = asInt(raw[1+4*n+j])
	}
	return picks, nil
}

// undoGroup takes back what checkGroup charged for the checks at idx.
func (s *RedisStore) undoGroup(ctx context.Context, checks []Check, idx []int, picks []int64) error {
	keys := make([]string, 0, len(idx))
	args := make([]any, 0, 2+len(idx)*3)
	args = append(args, s.scriptNowArg(), len(idx))
	for j, i := range idx {
		c := checks[i]
		switch c.Kind {
		case KindRate:
			keys = append(keys, s.key(c.Key, c.Tag))
			args = append(args, 1, c.Cost, durUs(c.Interval))
		case KindQuota:
			w := (*c.Windows)[max(min(picks[j], 3), 1)-1]
			keys = append(keys, s.key(c.Key+":"+strconv.FormatInt(w.Start.Unix(), 36), c.Tag))
			args = append(args, 2, c.Cost, "")
		case KindConcurrency:
			keys = append(keys, s.key(c.Key, c.Tag))
			args = append(args, 3, 1, c.Token)
		}
	}
	return s.run(ctx, func(ctx context.Context) error {
		return s.undo.Run(ctx, s.client, keys, args...).Err()
	})
}

// scriptNowArg is the scripts' clock override ("" for the server's TIME).
func (s *RedisStore) scriptNowArg() string {
	if s.scriptNow != nil {
		return strconv.FormatInt(us(s.scriptNow()), 10)
	}
	return ""
}

func asInt(v any) int64 {
	n, _ := v.(int64)
	return n
}

// Release implements Store: one pipelined round trip (on a cluster, one
// per node). When Redis is down the slots expire with their lease instead.
func (s *RedisStore) Release(ctx context.Context, leases []Lease) error {
	if len(leases) == 0 {
		return nil
	}
	return s.run(ctx, func(ctx context.Context) error {
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, l := range leases {
				p.ZRem(ctx, s.key(l.Key, l.Tag), l.Token)
			}
			return nil
		})
		return err
	})
}

// Blocked implements Store. On a cluster the sources' block keys are in
// different slots: their remaining lives are read in one pipeline.
func (s *RedisStore) Blocked(ctx context.Context, keys []string) (time.Duration, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = s.key(blockKey(k), sourceTag(k))
	}
	var ms int64
	err := s.run(ctx, func(ctx context.Context) error {
		if !s.cluster || len(full) == 1 {
			v, err := s.blocked.Run(ctx, s.client, full).Int64()
			ms = v
			return err
		}
		cmds, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range full {
				p.PTTL(ctx, k)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range cmds {
			ms = max(ms, c.(*redis.DurationCmd).Val().Milliseconds())
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Fail implements Store. On a cluster each source is one script in its
// own slot, and the horizon (a key of its own) is extended after them.
func (s *RedisStore) Fail(ctx context.Context, failures []Failure, p Penalty) ([]time.Duration, error) {
	if !s.cluster {
		return s.fail(ctx, failures, p, true)
	}
	out := make([]time.Duration, 0, len(failures))
	var longest time.Duration
	for _, f := range failures {
		d, err := s.fail(ctx, []Failure{f}, p, false)
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
		longest = max(longest, d[0])
	}
	var left int64
	err := s.run(ctx, func(ctx context.Context) error {
		v, err := s.horizonSet.Run(ctx, s.client, []string{s.horizonKey()}, longest.Milliseconds()).Int64()
		left = v
		return err
	})
	if err != nil {
		return nil, err
	}
	s.horizon.imposed(time.Duration(left) * time.Millisecond)
	return out, nil
}

// fail runs penalty.lua for failures, with the horizon key when
// withHorizon (every key in one script: not on a cluster).
func (s *RedisStore) fail(ctx context.Context, failures []Failure, p Penalty, withHorizon bool) ([]time.Duration, error) {
	keys := make([]string, 0, 3*len(failures)+1)
	args := make([]any, 0, 4+len(p.Ladder)+len(failures))
	args = append(args, len(failures), p.Window.Milliseconds(), p.Forget.Milliseconds(), len(p.Ladder))
	for _, d := range p.Ladder {
		args = append(args, d.Milliseconds())
	}
	for _, f := range failures {
		tag := sourceTag(f.Key)
		keys = append(keys, s.key(failKey(f.Key), tag), s.key(offenceKey(f.Key), tag), s.key(blockKey(f.Key), tag))
		args = append(args, f.Threshold)
	}
	if withHorizon {
		keys = append(keys, s.horizonKey())
	}
	var raw []int64
	err := s.run(ctx, func(ctx context.Context) error {
		v, err := s.penalty.Run(ctx, s.client, keys, args...).Int64Slice()
		raw = v
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]time.Duration, len(failures))
	for i := range out {
		if i < len(raw) {
			out[i] = time.Duration(raw[i]) * time.Millisecond
		}
	}
	if withHorizon && len(raw) == len(failures)+1 {
		s.horizon.imposed(time.Duration(raw[len(failures)]) * time.Millisecond)
	}
	return out, nil
}
