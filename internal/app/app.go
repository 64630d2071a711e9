// Package app owns the composition of a Portcullis process. From a loaded
// configuration it builds, in one place for `serve`, `demo` and `validate`,
// the long-lived services that outlive reloads (key service, rate-limit
// stores, the shared store of idempotency keys and signature nonces, DPoP
// replay store, JWKS registry, verified-token cache, the WAF's compiled
// rules and log), the gateway server and the admin API; it starts them,
// runs until a signal, and stops everything it started, in reverse order.
// The demo differs from serve only in the
// configuration and credentials it generates.
package app

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/console"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/idempotency"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/secmon"
	"github.com/portcullis/portcullis/internal/server"
	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/tokencache"
	"github.com/portcullis/portcullis/internal/validate"
	"github.com/portcullis/portcullis/internal/waf"
)

// Options are what a process is built with besides its configuration.
type Options struct {
	// ConfigPath is re-read on reload ("" disables file reloads).
	ConfigPath string
	// Log is the application logger.
	Log *slog.Logger
	// LogLevel, when set, is Log's level; a reload sets it from
	// logging.level.
	LogLevel *slog.LevelVar
	// Env resolves the secrets' environment variables. Default
	// os.LookupEnv.
	Env config.LookupEnv
	// OpenTimeout bounds opening the key store. Default 1m.
	OpenTimeout time.Duration
	// Online makes Check contact the key store and Redis as well
	// (validate --online).
	Online bool
}

// Process is a built gateway process: every long-lived part, owned here.
type Process struct {
	// Keys is the key service; nil when no keys are in use.
	Keys *keys.Service
	// Server is the gateway (public listeners and ops).
	Server *server.Server
	// Admin is the admin API; nil when it is disabled.
	Admin *admin.Server
	// Security is the security monitor.
	Security *secmon.Monitor
	// Shared holds idempotency keys and signature nonces: in Redis when
	// the rate limits use Redis (the same connection), else in memory.
	Shared sharedstate.Store
	// Bodies is the process's budget for read request bodies, shared by
	// every runtime across reloads.
	Bodies *validate.Budget

	log     *slog.Logger
	stops   []func() // in the order they were acquired; run in reverse
	started bool
}

// Build constructs the process cfg describes without binding any port.
// On error, whatever was built is released.
func Build(cfg *config.Config, o Options) (p *Process, err error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	if o.OpenTimeout == 0 {
		o.OpenTimeout = time.Minute
	}
	if errs := preflight(cfg, func(string) bool { return true }); len(errs) > 0 {
		return nil, errs
	}
	p = &Process{log: o.Log}
	// The deferred release holds its own reference: "return nil, err" sets
	// p to nil before deferred calls run.
	built := p
	defer func() {
		if err != nil {
			built.Close()
		}
	}()
	ratelimit.RouteRedisLogs(o.Log)
	limits, err := ratelimit.NewStores(cfg.RateLimits.Store, ratelimit.Options{Log: o.Log})
	if err != nil {
		return nil, err
	}
	limits.Start()
	p.onStop(func() { _ = limits.Close() })
	engines, err := waf.NewEngines(waf.Options{Log: o.Log, ErrorLog: cfg.Logging.WAF})
	if err != nil {
		return nil, err
	}
	p.onStop(func() { _ = engines.Close() })
	shared, err := sharedState(cfg, limits)
	if err != nil {
		return nil, err
	}
	p.Shared = shared
	integrity := observe.NewIntegrityMetrics()
	deps := gateway.Deps{
		Log:        o.Log,
		JWKS:       jwks.NewRegistry(o.Log, nil),
		TokenCache: tokencache.New(tokencache.DefaultMaxBytes, nil),
		RateLimits: limits,
		WAF:        engines,
		Shared:     shared,
		Integrity:  integrity,
		// DPoP proof jti values live in the same store (their keys are
		// scoped apart): one store, one bound, one Redis connection.
		Replay: shared,
		Env:    o.Env,
		// One body budget for the whole process: a reload must not make
		// room for another 256 MiB of held bodies.
		Bodies: validate.NewBudget(validate.DefaultBudget),
	}
	p.Bodies = deps.Bodies
	opts := server.Options{ConfigPath: o.ConfigPath, Log: o.Log, LogLevel: o.LogLevel, Deps: deps,
		Collectors: append(append(limits.Collectors(), engines.Collectors()...), integrity.Collectors()...)}
	if cfg.KeysInUse() {
		ctx, cancel := context.WithTimeout(context.Background(), o.OpenTimeout)
		p.Keys, err = keys.Open(ctx, cfg.Keys, o.Env, o.Log)
		cancel()
		if err != nil {
			return nil, err
		}
		svc := p.Keys
		p.onStop(func() { _ = svc.Close() })
		opts.Deps.Keys = svc
		opts.Deps.SigningKeys = svc
		opts.ReadyChecks = map[string]func() error{"keys": svc.Ready}
		opts.Collectors = append(opts.Collectors, svc.Collectors()...)
	}
	if p.Security, err = newMonitor(cfg, limits, p.Keys, o.Log); err != nil {
		return nil, err
	}
	mon := p.Security
	// Stopped after the server and the admin API (reverse order): both
	// emit into it until they are drained.
	p.onStop(func() { _ = mon.Close() })
	opts.Deps.Security = mon
	opts.Collectors = append(opts.Collectors, mon.Collectors()...)
	if p.Server, err = server.New(cfg, opts); err != nil {
		return nil, err
	}
	srv := p.Server
	p.onStop(func() {
		// Shutdown drains what Start bound; before Start it releases what
		// New built.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	if cfg.Admin.Enabled {
		if p.Admin, err = admin.New(cfg.Admin, admin.Deps{Keys: p.Keys, Log: o.Log, Security: mon, Idempotency: idempotency.NewAdmin(shared, nil)}); err != nil {
			return nil, err
		}
		adm := p.Admin
		p.Server.Metrics().CertExpiry.Watch("admin", adm.NotAfter)
		if cfg.Admin.Console.Enabled {
			con, err := console.New(console.Deps{Admin: adm, Sessions: p.Keys.Store(), Readiness: srv.Readiness, Status: srv.Status,
				Certificates: p.Server.Metrics().CertExpiry.Expiries, SessionTTL: cfg.Admin.Console.SessionTTL.D(), Log: o.Log})
			if err != nil {
				return nil, err
			}
			adm.Mount(console.Prefix, con)
		}
		p.onStop(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = adm.Shutdown(ctx)
		})
	}
	return p, nil
}

func (p *Process) onStop(f func()) { p.stops = append(p.stops, f) }

// newMonitor builds the security monitor: its blocks are shared through
// the rate-limit store's Redis when there is one (same connection, keys
// under its key_prefix), and blocks imposed go into the key store's audit
// trail when there is one.
func newMonitor(cfg *config.Config, limits *ratelimit.Stores, ks *keys.Service, log *slog.Logger) (*secmon.Monitor, error) {
	o := secmon.Options{Config: cfg.Security, Log: log}
	if r := limits.Redis(); r != nil {
		o.Redis, o.RedisPrefix = r.Client(), cfg.RateLimits.Store.Redis.KeyPrefix+"sec:"
	}
	if ks != nil {
		o.Auditor = ks
	}
	return secmon.New(o)
}

// sharedState is the process's shared store: on the rate limits' Redis
// connection (keys under its prefix + "ss:") when they use Redis, so every
// instance agrees and entries outlive a gateway restart; otherwise in
// memory, bounded by shared_state.max_entries.
func sharedState(cfg *config.Config, limits *ratelimit.Stores) (sharedstate.Store, error) {
	lim := gateway.SharedLimits(cfg.SharedState)
	if r := limits.Redis(); r != nil {
		st, err := sharedstate.NewRedis(r.Client(), cfg.RateLimits.Store.Redis.KeyPrefix+"ss:", lim)
		if err != nil {
			return nil, config.FieldError{Path: "rate_limits.store.redis.key_prefix", Message: err.Error()}
		}
		return st, nil
	}
	m, err := gateway.NewSharedMemory(cfg.SharedState)
	if err != nil {
		return nil, config.FieldError{Path: "shared_state", Message: err.Error()}
	}
	return m, nil
}

// Start binds the admin API and the gateway's listeners and starts
// serving. On error nothing stays bound.
func (p *Process) Start() error {
	if p.Admin != nil {
		if err := p.Admin.Start(); err != nil {
			return err
		}
	}
	if err := p.Server.Start(); err != nil {
		return err
	}
	p.started = true
	return nil
}

// Run serves until ctx ends or SIGTERM/SIGINT arrives on sigs, reloading on
// SIGHUP, then drains the gateway (see server.Run) and stops everything
// else.
func (p *Process) Run(ctx context.Context, sigs <-chan os.Signal) error {
	if !p.started {
		return errors.New("app: Run before Start")
	}
	defer p.Close()
	return p.Server.Run(ctx, sigs)
}

// Close stops and releases everything the process built, in reverse
// order. It may be called more than once.
func (p *Process) Close() {
	for i := len(p.stops) - 1; i >= 0; i-- {
		p.stops[i]()
	}
	p.stops = nil
}

// Check runs, without binding a port, every check Build and Start make
// before binding (the validate command): cfg's sections are checked
// against the host (preflight), the secrets loaded, the admin API's and
// the listeners' certificates read, and every route, upstream and
// authenticator compiled. prior are the problems config.LoadAll already
// found in cfg: each later check still runs on the sections without one,
// and what it says about a section with one (a consequence) is left out,
// so one run reports everything. The gateway itself is compiled only when
// cfg has no problem (its constructors take a validated configuration).
// With o.Online the key store and Redis are also contacted. It returns
// prior and every new problem.
func Check(cfg *config.Config, prior error, o Options) error {
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	var errs config.Errors
	errs.Merge("", prior)
	if cfg == nil {
		return errs.Err()
	}
	known := slices.Clone(errs)
	// A section is sound when no problem is at, above or inside it.
	sound := func(path string) bool {
		if config.Covers(known, path) {
			return false
		}
		for _, e := range known {
			if strings.HasPrefix(e.Path, path+".") || strings.HasPrefix(e.Path, path+"[") {
				return false
			}
		}
		return true
	}
	var found config.Errors
	found.Merge("", preflight(cfg, sound))
	opts := server.Options{ConfigPath: o.ConfigPath, Deps: gateway.Deps{Env: o.Env}}
	if cfg.KeysInUse() {
		if _, err := keys.LoadSecrets(cfg.Keys, o.Env); err != nil {
			found.Merge("keys", err)
		}
		// Routes are built without connecting to the key store.
		opts.Deps.Keys = keys.Offline{}
		opts.Deps.SigningKeys = keys.Offline{}
	}
	if cfg.Admin.Enabled {
		found.Merge("admin", admin.CheckConfig(cfg.Admin))
	}
	found.Merge("security", secmon.CheckConfig(cfg.Security))
	if len(known) == 0 {
		found.Merge("", server.CheckConfig(cfg, opts))
	} else {
		found.Merge("", server.CheckCertificates(cfg, sound))
	}
	if o.Online {
		found.Merge("", online(cfg, sound, o))
	}
	for _, e := range found {
		if !config.Covers(known, e.Path) {
			errs = append(errs, e)
		}
	}
	return errs.Err()
}
