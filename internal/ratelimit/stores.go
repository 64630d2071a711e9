package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/internal/config"
)

// Options configure NewStores.
type Options struct {
	// Log receives store state changes (Redis down, Redis back).
	Log *slog.Logger
	// Clock is the time source of the memory store, the breaker and
	// calendar windows. Default time.Now.
	Clock Clock
	// ScriptClock, when set, replaces the Redis server's TIME in the
	// scripts. Tests only: production uses the server's clock.
	ScriptClock Clock
}

// Stores is the limiter state a process keeps for its whole life: created
// once (cmd/portcullis serve, the demo) and handed to every runtime through
// gateway.Deps, so limits, quotas, in-flight counts and blocks survive
// configuration reloads.
type Stores struct {
	cfg     config.RateLimitStore
	clock   Clock
	log     *slog.Logger
	memory  *MemoryStore // the store for type memory; the local fallback for redis
	redis   *RedisStore  // nil for type memory
	metrics *Metrics

	tokenPrefix string
	tokenSeq    atomic.Uint64

	stopHealth context.CancelFunc
	healthDone chan struct{}
}

// NewStores builds the configured store. Redis is not contacted until the
// first request. Errors carry full config paths (rate_limits.store...).
func NewStores(cfg config.RateLimitStore, o Options) (*Stores, error) {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	s := &Stores{cfg: cfg, clock: o.Clock, log: o.Log, memory: NewMemoryStore(cfg.MaxKeys, o.Clock), tokenPrefix: hex.EncodeToString(rnd[:]) + "-"}
	s.metrics = newMetrics(s.memory)
	if cfg.Type == "redis" && cfg.Redis != nil {
		r, err := newRedisStore(cfg.Redis, o.Clock, o.Log, func(up bool) {
			if up {
				s.metrics.storeUp.Set(1)
			} else {
				s.metrics.storeUp.Set(0)
			}
		})
		if err != nil {
			return nil, err
		}
		r.scriptNow = o.ScriptClock
		s.redis = r
		addrs := []string{cfg.Redis.Address}
		if sn := cfg.Redis.Sentinel; sn != nil {
			addrs = sn.Addresses
		}
		if cl := cfg.Redis.Cluster; cl != nil {
			addrs = cl.Addresses
		}
		for _, a := range addrs {
			if cfg.Redis.TLS == nil && !config.IsLoopback(a) {
				o.Log.Warn("rate-limit store: Redis is reached without TLS over the network; its password travels in clear (set rate_limits.store.redis.tls)",
					"address", a)
				break
			}
		}
	}
	return s, nil
}

// Start runs the background health check of the Redis store (nothing for
// the memory store): every health_interval Redis is pinged through the
// breaker, so the store_up metric and /readyz follow Redis without waiting
// for traffic, and a recovered Redis is taken back before the next request
// has to probe it. Close stops it.
func (s *Stores) Start() {
	if s.redis == nil || s.stopHealth != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopHealth, s.healthDone = cancel, make(chan struct{})
	interval := s.cfg.Redis.HealthInterval.D()
	timeout := max(s.cfg.Redis.Timeout.D(), time.Millisecond)
	go func() {
		defer close(s.healthDone)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			cctx, ccancel := context.WithTimeout(ctx, timeout)
			if err := s.redis.healthCheck(cctx); err != nil && !errors.Is(err, ErrUnavailable) {
				s.metrics.StoreError()
			}
			ccancel()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the health check and releases the Redis connections.
func (s *Stores) Close() error {
	if s.stopHealth != nil {
		s.stopHealth()
		<-s.healthDone
	}
	if s.redis != nil {
		return s.redis.Close()
	}
	return nil
}

// clustered reports whether the store is a Redis Cluster, whose checks
// carry slot tags.
func (s *Stores) clustered() bool { return s.redis != nil && s.redis.cluster }

// Up reports whether limits are shared: true for the memory store, and
// for Redis while its breaker is closed (the last call or health check
// succeeded).
func (s *Stores) Up() bool { return s.redis == nil || !s.redis.breaker.down.Load() }

// Config is the store configuration s was built from. A reload that
// changes it keeps using s (reported as needing a restart).
func (s *Stores) Config() config.RateLimitStore { return s.cfg }

// Collectors are the metrics to register.
func (s *Stores) Collectors() []prometheus.Collector { return s.metrics.collectors }

// Metrics returns the metrics the brute-force defence also records to.
func (s *Stores) Metrics() *Metrics { return s.metrics }

// Memory is the in-process store.
func (s *Stores) Memory() *MemoryStore { return s.memory }

// Redis is the Redis store, or nil.
func (s *Stores) Redis() *RedisStore { return s.redis }

// Ping checks Redis (nil for the memory store), for readiness checks.
func (s *Stores) Ping(ctx context.Context) error {
	if s.redis == nil {
		return nil
	}
	return s.redis.Ping(ctx)
}

func (s *Stores) primary() Store {
	if s.redis != nil {
		return s.redis
	}
	return s.memory
}

func (s *Stores) token() string {
	return s.tokenPrefix + strconv.FormatUint(s.tokenSeq.Add(1), 36)
}

// MayBlock reports whether a Blocked call could find a block: with Redis,
// while the shared block horizon says one may be in force (or is unknown);
// locally, while some block set here (including during a Redis outage) has
// not yet run out. Callers skip the lookup otherwise.
func (s *Stores) MayBlock() bool {
	return s.memory.MayBlock() || (s.redis != nil && s.redis.MayBlock())
}

// Blocked asks the shared store, falling back to the local one when Redis
// is unreachable (blocks imposed during the outage are local).
func (s *Stores) Blocked(ctx context.Context, keys []string) time.Duration {
	d, err := s.primary().Blocked(ctx, keys)
	if err != nil {
		s.storeFailed(err)
		d, _ = s.memory.Blocked(ctx, keys)
	}
	return d
}

// Fail records failures in the shared store, or locally when Redis is
// unreachable.
func (s *Stores) Fail(ctx context.Context, failures []Failure, p Penalty) []time.Duration {
	d, err := s.primary().Fail(ctx, failures, p)
	if err != nil {
		s.storeFailed(err)
		d, _ = s.memory.Fail(ctx, failures, p)
	}
	return d
}

func (s *Stores) storeFailed(err error) {
	s.metrics.StoreError()
	if !errors.Is(err, ErrUnavailable) {
		s.log.Debug("rate-limit store operation failed", "error", err.Error())
	}
}
