// Package keys owns API key management: the credential format (a readable
// prefix, a public id, a 256-bit secret and a checksum), hashing with the
// server pepper, encryption of sensitive metadata under versioned master
// keys, and the lifecycle service over a store.Store: consumers, issuing,
// rotation with a grace period, revocation, admin tokens, audit events,
// re-encryption, and verification on the request path through a bounded
// cache kept fresh by the store's change feed, with batched usage
// recording. It also owns consumers' message-signing public keys (RFC 9421)
// and the mapping of token callers to consumers, and resolves a
// signature's keyid within the signer's own consumer.
package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/store"
)

// Options configure a Service. Zero durations and sizes take the config
// defaults.
type Options struct {
	Store   store.Store
	Secrets *Secrets
	// Environment is the kind of API key issued and accepted (live or test).
	Environment Kind
	Clock       Clock
	Log         *slog.Logger

	CacheSize     int
	CacheTTL      time.Duration
	NegativeTTL   time.Duration
	StaleIfError  time.Duration
	RotationGrace time.Duration
	UsageFlush    time.Duration
	// Heartbeat is how often a started Service records itself in the
	// store's instance registry. Default DefaultHeartbeat.
	Heartbeat time.Duration
}

// OptionsFromConfig maps the keys block to Options (store, secrets, clock
// and log are the caller's).
func OptionsFromConfig(k config.Keys) Options {
	return Options{
		Environment:   Kind(k.Environment),
		CacheSize:     k.Cache.Size,
		CacheTTL:      k.Cache.TTL.D(),
		NegativeTTL:   k.Cache.NegativeTTL.D(),
		StaleIfError:  k.Cache.StaleIfError.D(),
		RotationGrace: k.RotationGrace.D(),
		UsageFlush:    k.Usage.FlushInterval.D(),
	}
}

// DefaultOptions are the options of a keys block that sets nothing (the
// documented defaults), for callers without a configuration file.
func DefaultOptions() Options { return OptionsFromConfig(config.WithDefaults(config.Keys{})) }

// Service is the key lifecycle and the verifier. It is long-lived: built
// once per process and shared by every runtime across reloads.
type Service struct {
	o     Options
	st    store.Store
	sec   *Secrets
	clock Clock
	log   *slog.Logger
	cache *cache
	// sigCache holds signing keys and identity mappings for signature
	// verification.
	sigCache *sigCache
	usage    usageRecorder

	flightMu sync.Mutex
	flights  map[string]*flight

	// storeDown is set while lookups fail and cached keys are served stale.
	storeDown atomic.Bool
	stats     Stats

	cancel context.CancelFunc
	done   sync.WaitGroup
	// closeStore is set when the Service owns its store (Open).
	closeStore bool

	// writeVer are the secret versions new data is written under
	// (registry.go).
	writeVer   atomic.Pointer[writeVersions]
	instanceID string
	host       string
	started    time.Time
	registered bool
	missing    missing
	// rehashing holds the ids being re-hashed under a newer pepper.
	rehashing sync.Map
	rehashWG  sync.WaitGroup
}

// Stats are counters of the verification path.
type Stats struct {
	// Hits are verifications answered from the cache.
	Hits atomic.Int64
	// Misses are verifications that read the store.
	Misses atomic.Int64
	// Stale are verifications served from an expired entry because the
	// store was unreachable.
	Stale atomic.Int64
	// Invalidations are cache entries dropped by the change feed.
	Invalidations atomic.Int64
}

// NewService builds a Service. Call Start to run its change feed and usage
// flusher, and Close to stop them.
func NewService(o Options) (*Service, error) {
	if o.Store == nil || o.Secrets == nil || o.Secrets.Peppers == nil || o.Secrets.Keyring == nil {
		return nil, errors.New("keys: a store and secrets are required")
	}
	switch o.Environment {
	case "":
		o.Environment = KindLive
	case KindLive, KindTest:
	default:
		return nil, fmt.Errorf("keys: environment must be live or test, got %q", o.Environment)
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	// The options come from a validated config (OptionsFromConfig); a
	// zero TTL, grace or stale window is meant and kept.
	if o.CacheSize < 1 || o.UsageFlush <= 0 {
		return nil, errors.New("keys: cache size and usage flush interval must be positive (see DefaultOptions)")
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	s := &Service{
		o: o, st: o.Store, sec: o.Secrets, clock: o.Clock, log: o.Log,
		cache: newCache(o.CacheSize), sigCache: newSigCache(o.CacheSize), flights: map[string]*flight{},
		instanceID: newInstanceID(), host: hostname(), started: o.Clock.Now(),
	}
	// Until the registry is read (Start, LoadVersions): this instance's
	// newest versions.
	s.writeVer.Store(&writeVersions{master: o.Secrets.Keyring.Current(), pepper: o.Secrets.Peppers.Current()})
	return s, nil
}

// Start runs the change feed and the usage flusher until Close. It returns
// once the feed is live or has failed its first attempt, so a caller that
// starts serving right after cannot miss a revocation made meanwhile by
// this process.
//
// It also records the instance in the store's registry, with the master
// key and pepper versions it holds, before returning (so a rekey run
// right after sees it), keeps the record alive every heartbeat, and
// writes new data under the newest versions every live instance holds.
func (s *Service) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.registered = true
	s.beat(ctx)
	first := make(chan struct{})
	var once sync.Once
	s.done.Add(3)
	go func() {
		defer s.done.Done()
		s.heartbeatLoop(ctx)
	}()
	go func() {
		defer s.done.Done()
		_ = s.st.Watch(ctx, func(c store.Change) {
			s.onChange(c)
			if c.Kind == store.FeedReset || c.Kind == store.FeedDown {
				once.Do(func() { close(first) })
			}
		})
	}()
	go func() {
		defer s.done.Done()
		s.flushLoop(ctx)
	}()
	select {
	case <-first:
	case <-time.After(5 * time.Second):
		s.log.Warn("key change feed is not live yet; revocations from other instances wait for the cache ttl", "ttl", s.o.CacheTTL.String())
	}
}

// Close stops the background work, writes pending usage and, when the
// Service opened its store, closes it.
func (s *Service) Close() error {
	if s.cancel != nil {
		s.cancel()
		s.done.Wait()
	}
	s.rehashWG.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.FlushUsage(ctx)
	if s.registered {
		// Gone at once rather than after its ttl: a rekey need not wait.
		if rerr := s.st.RemoveInstance(ctx, s.instanceID); rerr != nil {
			s.log.Warn("removing this instance from the registry failed; its row expires by itself", "error", rerr.Error())
		}
	}
	if s.closeStore {
		if cerr := s.st.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Store returns the underlying store.
func (s *Service) Store() store.Store { return s.st }

// Environment is the kind of key this Service issues and accepts.
func (s *Service) Environment() Kind { return s.o.Environment }

// Stats returns the verification counters.
func (s *Service) Stats() *Stats { return &s.stats }

// CachedKeys is how many entries the cache holds.
func (s *Service) CachedKeys() int { return s.cache.len() }

func (s *Service) onChange(c store.Change) {
	switch c.Kind {
	case store.KeyChanged:
		s.cache.deleteKey(c.ID)
		s.stats.Invalidations.Add(1)
	case store.ConsumerChanged:
		s.cache.deleteConsumer(c.ID)
		s.sigCache.dropConsumer(c.ID)
		s.stats.Invalidations.Add(1)
	case store.SigningKeysChanged:
		s.sigCache.dropConsumer(c.ID)
		s.stats.Invalidations.Add(1)
	case store.IdentitiesChanged:
		s.sigCache.dropIdentities()
		s.stats.Invalidations.Add(1)
	case store.FeedReset:
		s.cache.clear()
		s.sigCache.clear()
		s.log.Info("key change feed live; key cache cleared")
	case store.FeedDown:
		s.log.Warn("key change feed down; reconnecting (revocations made by other instances apply after the cache ttl until it is back)",
			"error", errString(c.Err), "cache_ttl", s.o.CacheTTL.String())
	}
}

func (s *Service) flushLoop(ctx context.Context) {
	t := time.NewTicker(s.o.UsageFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := s.FlushUsage(fctx); err != nil {
				s.log.Warn("writing key usage failed; kept for the next flush", "error", err.Error())
			}
			cancel()
		}
	}
}

// FlushUsage writes recorded usage now (the flusher does it every
// usage.flush_interval).
func (s *Service) FlushUsage(ctx context.Context) error { return s.usage.flush(ctx, s.st) }

// DegradedError is a readiness problem that does not stop traffic: the
// gateway still serves, from its cache. The ops listener reports it without
// failing /readyz.
type DegradedError struct{ msg string }

// Error implements error.
func (e *DegradedError) Error() string { return e.msg }

// Degraded marks the error as a warning for /readyz.
func (e *DegradedError) Degraded() bool { return true }

// Ready is the /readyz check: not ready when data in the store was
// written under a master key or pepper version this instance does not
// hold (it cannot serve those consumers or keys: its configuration lacks
// a version, fixed only by a restart with it); degraded when the store is
// unreachable or the change feed is down (cached keys keep working).
func (s *Service) Ready() error {
	if m := s.missingReport(); m != "" {
		return errors.New(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.st.Ping(ctx); err != nil {
		s.markStoreDown(err)
		return &DegradedError{fmt.Sprintf("key store unreachable; serving %d cached keys for up to %s past their ttl",
			s.cache.len(), s.o.StaleIfError)}
	}
	s.markStoreUp()
	if err := s.st.FeedErr(); err != nil {
		return &DegradedError{"key change feed down; revocations from other instances apply after the cache ttl (" + s.o.CacheTTL.String() + ")"}
	}
	return nil
}

func (s *Service) markStoreDown(err error) {
	if !s.storeDown.Swap(true) {
		s.log.Warn("key store unreachable; serving cached keys", "error", errString(err),
			"stale_if_error", s.o.StaleIfError.String(), "cached_keys", s.cache.len())
	}
}

func (s *Service) markStoreUp() {
	if s.storeDown.Swap(false) {
		s.log.Info("key store reachable again")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
