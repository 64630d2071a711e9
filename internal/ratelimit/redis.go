package ratelimit

import (
	"context"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
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
)

// RedisStore is the Store shared by every gateway instance that points at
// the same Redis. Each operation is one atomic Lua script, one round trip,
// and rate and quota checks use the Redis server's clock, so clock skew
// between gateway nodes cannot over-issue.
type RedisStore struct {
	client  *redis.Client
	prefix  string
	breaker *breaker
	// scriptNow, when set (tests only), replaces the server's TIME so
	// algorithm edges can be checked exactly against a real Redis.
	scriptNow Clock

	check, penalty, blocked *redis.Script
	horizon                 *blockHorizon
}

var _ Store = (*RedisStore)(nil)

// newRedisStore builds the client; it does not connect until first use.
func newRedisStore(cfg *config.RedisConfig, clock Clock, log *slog.Logger, onChange func(bool)) (*RedisStore, error) {
	var tc *tls.Config
	if t := cfg.TLS; t != nil {
		tc = tlsconf.NewClientConfig()
		tc.ServerName = t.ServerName
		if tc.ServerName == "" && cfg.Sentinel == nil {
			tc.ServerName, _, _ = net.SplitHostPort(cfg.Address)
		} // with Sentinel, each connection verifies the host it dials
		if t.CAFile != "" {
			pool, err := tlsconf.LoadCertPool(t.CAFile)
			if err != nil {
				return nil, config.FieldError{Path: "rate_limits.store.redis.tls.ca_file", Message: err.Error()}
			}
			tc.RootCAs = pool
		}
	}
	var client *redis.Client
	if sn := cfg.Sentinel; sn != nil {
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
		client:  client,
		prefix:  cfg.KeyPrefix,
		breaker: &breaker{clock: clock, retry: cfg.RetryInterval.D(), log: log, onChange: onChange},
		check:   redis.NewScript(checkLua),
		penalty: redis.NewScript(penaltyLua),
		blocked: redis.NewScript(blockedLua),
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
// (rate_limits.store.redis).
func (s *RedisStore) Client() *redis.Client { return s.client }

// Close closes the connection pool.
func (s *RedisStore) Close() error { return s.client.Close() }

// Ping checks that Redis answers.
func (s *RedisStore) Ping(ctx context.Context) error { return s.client.Ping(ctx).Err() }

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

// Check implements Store in one EVALSHA.
func (s *RedisStore) Check(ctx context.Context, checks []Check) ([]Result, error) {
	keys := make([]string, 0, len(checks)*2)
	args := make([]any, 0, 2+len(checks)*6)
	now := ""
	if s.scriptNow != nil {
		now = strconv.FormatInt(us(s.scriptNow()), 10)
	}
	args = append(args, now, len(checks))
	for _, c := range checks {
		switch c.Kind {
		case KindRate:
			keys = append(keys, s.prefix+c.Key)
			args = append(args, 1, c.Cost, durUs(c.Interval), c.Burst)
		case KindQuota:
			args = append(args, 2, c.Cost, c.Limit)
			for _, w := range *c.Windows {
				keys = append(keys, s.prefix+c.Key+":"+strconv.FormatInt(w.Start.Unix(), 36))
				args = append(args, us(w.Start), us(w.End))
			}
		case KindConcurrency:
			keys = append(keys, s.prefix+c.Key)
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
	if len(raw) != 1+4*len(checks) {
		return nil, errors.New("rate-limit script returned an unexpected reply")
	}
	out := make([]Result, len(checks))
	for i := range out {
		f := raw[1+4*i : 5+4*i]
		out[i] = Result{
			Allowed:    asInt(f[0]) == 1,
			Remaining:  asInt(f[1]),
			Reset:      usDur(asInt(f[2])),
			RetryAfter: usDur(asInt(f[3])),
		}
	}
	return out, nil
}

func asInt(v any) int64 {
	n, _ := v.(int64)
	return n
}

// Release implements Store: one pipelined round trip. When Redis is down
// the slots expire with their lease instead.
func (s *RedisStore) Release(ctx context.Context, leases []Lease) error {
	if len(leases) == 0 {
		return nil
	}
	return s.run(ctx, func(ctx context.Context) error {
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, l := range leases {
				p.ZRem(ctx, s.prefix+l.Key, l.Token)
			}
			return nil
		})
		return err
	})
}

// Blocked implements Store.
func (s *RedisStore) Blocked(ctx context.Context, keys []string) (time.Duration, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = s.prefix + blockKey(k)
	}
	var ms int64
	err := s.run(ctx, func(ctx context.Context) error {
		v, err := s.blocked.Run(ctx, s.client, full).Int64()
		ms = v
		return err
	})
	if err != nil {
		return 0, err
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Fail implements Store.
func (s *RedisStore) Fail(ctx context.Context, failures []Failure, p Penalty) ([]time.Duration, error) {
	keys := make([]string, 0, 3*len(failures))
	args := make([]any, 0, 4+len(p.Ladder)+len(failures))
	args = append(args, len(failures), p.Window.Milliseconds(), p.Forget.Milliseconds(), len(p.Ladder))
	for _, d := range p.Ladder {
		args = append(args, d.Milliseconds())
	}
	for _, f := range failures {
		keys = append(keys, s.prefix+failKey(f.Key), s.prefix+offenceKey(f.Key), s.prefix+blockKey(f.Key))
		args = append(args, f.Threshold)
	}
	keys = append(keys, s.horizonKey())
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
	if len(raw) == len(failures)+1 {
		s.horizon.imposed(time.Duration(raw[len(failures)]) * time.Millisecond)
	}
	return out, nil
}
