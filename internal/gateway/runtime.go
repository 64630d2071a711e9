// Package gateway owns turning a validated configuration into the running
// request path (router, one middleware chain per route, upstreams) and
// serving requests through it. Every reload builds a new Runtime that is
// swapped in atomically; a request finishes on the Runtime it started on.
package gateway

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/authn/apikey"
	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/bruteforce"
	"github.com/portcullis/portcullis/internal/clientip"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/idempotency"
	"github.com/portcullis/portcullis/internal/ipfilter"
	"github.com/portcullis/portcullis/internal/lifecycle"
	"github.com/portcullis/portcullis/internal/msgsig"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/openapi"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/proxy"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/router"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/secmon"
	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/tokencache"
	"github.com/portcullis/portcullis/internal/validate"
	"github.com/portcullis/portcullis/internal/waf"
)

// Deps are the long-lived services a Runtime is built with. They outlive
// reloads.
type Deps struct {
	Log *slog.Logger
	// JWKS caches issuers' key sets across reloads. Nil: one per Runtime.
	JWKS *jwks.Registry
	// TokenCache remembers verified tokens across reloads. Nil: one per
	// authenticator.
	TokenCache *tokencache.Cache
	// Now is the authenticators' clock. Nil: time.Now.
	Now func() time.Time
	// Keys verifies API keys (a *keys.Service, built once per process so
	// its cache and change feed outlive reloads). nil when no api_key
	// authenticator is configured.
	Keys apikey.Verifier
	// RateLimits holds limiter state, brute-force counters and blocks, so
	// they survive reloads. When nil, Build makes a store for that runtime
	// alone (validate, tests).
	RateLimits *ratelimit.Stores
	// Bodies bounds the memory all requests hold in read bodies, across
	// reloads. When nil, Build makes one for that runtime alone.
	Bodies *validate.Budget
	// WAF compiles and caches the WAF's rule sets across reloads and owns
	// its log and metrics. When nil, Build makes one for that runtime
	// alone (without a WAF log).
	WAF *waf.Engines
	// Metrics counts what validation stages refuse or report. Nil: not
	// counted (validate, tests).
	Metrics *observe.Metrics
	// Security is the process's security monitor: every request carries
	// it as its secevent sink, its stage enforces blocks on every route,
	// and it observes each finished request. Nil: no monitoring (validate,
	// tests that do not need it).
	Security *secmon.Monitor
	// Shared holds idempotency keys and signature nonces (Redis when the
	// rate limits use Redis), across reloads. When nil, Build makes an
	// in-memory store for that runtime alone (validate, tests).
	Shared sharedstate.Store
	// SigningKeys resolves consumers' message-signing keys (a
	// *keys.Service). nil when no route verifies signatures.
	SigningKeys msgsig.KeyResolver
	// Integrity counts idempotency and signature decisions (nil: not
	// counted).
	Integrity *observe.IntegrityMetrics
	// Replay remembers DPoP proof jti values across reloads, shared by
	// every instance when it is Redis. When nil, Build makes a memory
	// store for that runtime alone (validate, tests).
	Replay sharedstate.Store
	// Env resolves secrets read at build (DPoP nonce secrets). Nil:
	// os.LookupEnv.
	Env config.LookupEnv
}

// ownReplayEntries bounds the replay store a runtime makes for itself.
const ownReplayEntries = 100_000

// Route is one configured route's runtime.
type Route struct {
	Name    string
	handler pipeline.Handler
	// stages are the route's request stages, in the order they run.
	stages []pipeline.Stage
	// asciiPath refuses decoded paths with bytes outside ASCII
	// (path_charset: ascii).
	asciiPath bool
}

// Runtime is one built configuration.
type Runtime struct {
	Config    *config.Config
	router    *router.Router[*Route]
	routes    []*Route // in configuration order
	upstreams []*proxy.Upstream
	resolver  *clientip.Resolver
	auths     map[string]authn.Authenticator
	cancel    context.CancelFunc
	ipfilter  *ipfilter.Filter  // rate_limits.ip_allow / ip_deny, before routing
	limits    *ratelimit.Limits // reports the rate-limit store's readiness
	ownStores *ratelimit.Stores // made by Build when Deps had none
	files     []string          // read at build besides the configuration file
	security  *secmon.Monitor   // nil: monitoring off
	// certHeader is client_cert_header's canonical name ("" when unset),
	// removed from requests of untrusted peers.
	certHeader string
}

// Files are the files Build read besides the configuration file (OpenAPI
// documents and the files their $refs name), absolute: a reload reads them
// again, so reload.watch follows them as it follows the configuration.
func (rt *Runtime) Files() []string { return rt.files }

// Build compiles cfg (already validated) into a Runtime. Every problem is
// returned as a config.Errors with paths. Nothing is started.
func Build(cfg *config.Config, deps Deps) (*Runtime, error) {
	var errs config.Errors
	rt := &Runtime{Config: cfg, router: router.New[*Route]()}
	if securityOn(cfg, deps) {
		rt.security = deps.Security
	}

	header := clientip.XForwardedFor
	if cfg.ClientIPHeader == "forwarded" {
		header = clientip.Forwarded
	}
	rt.resolver = clientip.New(config.Prefixes(cfg.TrustedProxies), header)
	if ch := cfg.ClientCertHeader; ch != nil {
		rt.certHeader = http.CanonicalHeaderKey(ch.Name)
	}
	if deps.Bodies == nil {
		deps.Bodies = validate.NewBudget(validate.DefaultBudget)
	}
	if deps.Replay == nil {
		st, err := sharedstate.NewMemory(ownReplayEntries, sharedstate.MemoryOptions{Now: deps.Now})
		if err != nil {
			return nil, err
		}
		deps.Replay = st
	}

	ups := map[string]*proxy.Upstream{}
	for i, uc := range cfg.Upstreams {
		u, err := proxy.NewUpstream(uc, deps.Log)
		if err != nil {
			errs.Merge(config.Index("upstreams", i), prefixed(config.Index("upstreams", i), err))
			continue
		}
		ups[uc.Name] = u
		rt.upstreams = append(rt.upstreams, u)
	}

	auths, err := buildAuthenticators(cfg, deps)
	errs.Merge("authenticators", err)
	rt.auths = auths
	env := &runtimeBuild{cfg: cfg, resolver: rt.resolver, auths: auths, deps: deps, headers: proxy.NewHeaderPolicy(cfg.Headers)}
	if err := rt.buildLimits(cfg, deps, env); err != nil {
		errs.Merge("rate_limits.store", err)
	}
	if env.waf, err = buildWAF(cfg, deps); err != nil {
		errs.Merge("routes", err)
	}
	specs, err := openapi.LoadAll(context.Background(), cfg)
	errs.Merge("", err)
	env.specs = specs
	rt.files = specs.Files()
	if err := buildIntegrity(cfg, deps, env); err != nil {
		errs.Merge("", err)
	}

	for i, rc := range cfg.Routes {
		path := config.Index("routes", i)
		up := ups[rc.Upstream]
		if up == nil {
			continue // reported by Validate, or by the upstream's own error
		}
		h, stages, err := buildChain(rc, path, up, env)
		if err != nil {
			errs.Merge(path, err)
			continue
		}
		spec := router.Spec{Hosts: rc.Hosts, Path: rc.Path, Prefix: rc.Prefix, Methods: rc.Methods}
		route := &Route{Name: rc.Name, handler: h, stages: stages, asciiPath: rc.PathCharset == "ascii"}
		rt.routes = append(rt.routes, route)
		if err := rt.router.Add(spec, rc.Name, route); err != nil {
			field := "path"
			if rc.Prefix != "" {
				field = "prefix"
			}
			errs.Add(config.Join(path, field), "%v", err)
		}
	}
	if len(errs) > 0 {
		rt.Stop()
		return nil, errs
	}
	return rt, nil
}

// buildLimits compiles the IP lists, brute-force defence and rate-limit
// policies over the long-lived stores in deps (or stores of the runtime's
// own when deps has none: validate, tests).
func (rt *Runtime) buildLimits(cfg *config.Config, deps Deps, env *runtimeBuild) error {
	rl := cfg.RateLimits
	stores := deps.RateLimits
	if stores == nil {
		var err error
		if stores, err = ratelimit.NewStores(rl.Store, ratelimit.Options{Log: deps.Log}); err != nil {
			return err
		}
		rt.ownStores = stores
	}
	rt.ipfilter = ipfilter.New(rl.IPAllow, rl.IPDeny)
	env.guard = bruteforce.New(rl.BruteForce, stores, deps.Log)
	env.limits = ratelimit.New(rl, stores)
	rt.limits = env.limits
	return nil
}

// buildIntegrity builds the runtime's idempotency and message-signature
// parts over the long-lived shared store in deps (or one of the runtime's
// own).
func buildIntegrity(cfg *config.Config, deps Deps, env *runtimeBuild) error {
	shared := deps.Shared
	if shared == nil {
		m, err := NewSharedMemory(cfg.SharedState)
		if err != nil {
			return config.FieldError{Path: "shared_state", Message: err.Error()}
		}
		shared = m
	}
	env.idem = idempotency.NewGuard(shared, idempotency.GuardOptions{Metrics: deps.Integrity, Log: deps.Log, Now: deps.Now})
	if cfg.SignaturesInUse() && deps.SigningKeys == nil {
		return config.FieldError{Path: "keys", Message: "routes verifying signatures need the key store (consumers' public keys live there)"}
	}
	sig, err := msgsig.NewRuntime(cfg, msgsig.Deps{Keys: deps.SigningKeys, Nonces: shared, Metrics: deps.Integrity, Log: deps.Log, Now: deps.Now})
	if err != nil {
		return err
	}
	env.sig = sig
	return nil
}

// SharedLimits bound one shared-state entry: meta is an idempotency
// fingerprint and lease (under 256 bytes), a value a stored response.
func SharedLimits(c config.SharedState) sharedstate.Limits {
	return sharedstate.Limits{MaxMetaBytes: 256, MaxValueBytes: int(c.MaxValueBytes)}
}

// NewSharedMemory is the in-memory shared store shared_state describes.
func NewSharedMemory(c config.SharedState) (*sharedstate.Memory, error) {
	return sharedstate.NewMemory(c.MaxEntries, sharedstate.MemoryOptions{Limits: SharedLimits(c)})
}

// prefixed re-roots the paths of a constructor's errors under path.
func prefixed(path string, err error) error {
	switch e := err.(type) {
	case config.FieldError:
		return config.FieldError{Path: config.Join(path, e.Path), Message: e.Message}
	case config.Errors:
		out := make(config.Errors, len(e))
		for i, fe := range e {
			out[i] = config.FieldError{Path: config.Join(path, fe.Path), Message: fe.Message}
		}
		return out
	}
	return config.FieldError{Path: path, Message: err.Error()}
}

// InheritHealth takes over prev's upstream health verdicts for the same
// upstream names and target URLs. Call it before Start.
func (rt *Runtime) InheritHealth(prev *Runtime) {
	if prev == nil {
		return
	}
	byName := make(map[string]*proxy.Upstream, len(prev.upstreams))
	for _, u := range prev.upstreams {
		byName[u.Name] = u
	}
	for _, u := range rt.upstreams {
		u.InheritHealth(byName[u.Name])
	}
}

// parts are what the runtime built that may take part in its lifecycle
// (lifecycle.Prefetcher, Readiness, Closer): upstreams first, then
// authenticators by name, then the rate limits, so reports and shutdown
// have a stable order.
func (rt *Runtime) parts() []any {
	out := make([]any, 0, len(rt.upstreams)+len(rt.auths)+1)
	for _, u := range rt.upstreams {
		out = append(out, u)
	}
	for _, name := range slices.Sorted(maps.Keys(rt.auths)) {
		out = append(out, rt.auths[name])
	}
	if rt.limits != nil {
		out = append(out, rt.limits)
	}
	return out
}

// Start begins the Runtime's background work: upstream health checks, and
// loading what the first requests would wait for (remote JWKS).
func (rt *Runtime) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	rt.cancel = cancel
	for _, u := range rt.upstreams {
		u.StartHealthChecks(ctx)
	}
	for _, p := range rt.parts() {
		if pf, ok := p.(lifecycle.Prefetcher); ok {
			pf.Prefetch()
		}
	}
}

// Stop ends background work, waits for it, and releases what the runtime's
// parts hold (idle connections). Requests still running on this Runtime
// complete normally.
func (rt *Runtime) Stop() {
	if rt.cancel != nil {
		rt.cancel()
	}
	for _, p := range rt.parts() {
		if c, ok := p.(lifecycle.Closer); ok {
			_ = c.Close()
		}
	}
	if rt.ownStores != nil {
		_ = rt.ownStores.Close()
	}
}

// Ready merges the readiness reports of the runtime's parts
// ("upstream:<name>", "jwks:<issuer>"). A name reported by several parts
// (one issuer in two authenticators) gets the worst report.
func (rt *Runtime) Ready() map[string]error {
	out := map[string]error{}
	for _, p := range rt.parts() {
		r, ok := p.(lifecycle.Readiness)
		if !ok {
			continue
		}
		for name, err := range r.Ready() {
			if prev, seen := out[name]; !seen || lifecycle.Severity(err) > lifecycle.Severity(prev) {
				out[name] = err
			}
		}
	}
	return out
}

// JWKSRemotes lists the remote JWKS the runtime's authenticators use.
func (rt *Runtime) JWKSRemotes() []*jwks.Remote {
	var out []*jwks.Remote
	for _, p := range rt.parts() {
		if u, ok := p.(jwks.User); ok {
			out = append(out, u.Remotes()...)
		}
	}
	return out
}

// Upstreams returns the runtime's upstreams.
func (rt *Runtime) Upstreams() []*proxy.Upstream { return rt.upstreams }

// securityOn reports whether cfg monitors security with deps' monitor
// (the configuration being built decides, not the monitor's current
// state: a reload applies both together).
func securityOn(cfg *config.Config, deps Deps) bool {
	return deps.Security != nil && (cfg.Security.Enabled == nil || *cfg.Security.Enabled)
}

// refuse reports a path, method or protocol refusal as a security event
// and returns it, unless the client IP is blocked: then the block's
// answer, so a blocked scanner gets the same 403 on every path (routes
// refuse it in their security stage).
func (rt *Runtime) refuse(r *http.Request, pe *problem.Error) error {
	if rt.security == nil {
		return pe
	}
	if err := rt.security.CheckIP(r.Context()); err != nil {
		return err
	}
	secevent.Emit(r.Context(), secevent.Event{Type: secevent.RequestRefused, Status: pe.Status, Reason: pe.Type})
	return pe
}

// errNonASCIIPath is the logged cause of a 400 on a path_charset: ascii
// route.
var errNonASCIIPath = errors.New("path has bytes outside ASCII (path_charset: ascii)")

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// serve routes r and runs its chain.
func (rt *Runtime) serve(w http.ResponseWriter, r *http.Request, info *reqinfo.Info) error {
	if err := rt.ipfilter.Admit(r.Context()); err != nil {
		return err
	}
	path, err := router.Normalize(r.URL.EscapedPath())
	if err != nil {
		return rt.refuse(r, problem.BadRequest("invalid-path", "The request path is malformed or not allowed.").WithCause(err))
	}
	info.Path = path
	res := rt.router.Match(r.Host, path, r.Method)
	switch res.Status {
	case router.NotFound:
		return rt.refuse(r, problem.NotFound())
	case router.MethodNotAllowed:
		return rt.refuse(r, problem.MethodNotAllowed(res.Allow))
	}
	info.Route = res.Value.Name
	if res.Value.asciiPath && !isASCII(path) {
		return rt.refuse(r, problem.BadRequest("invalid-path", "The request path is malformed or not allowed.").WithCause(errNonASCIIPath))
	}
	if len(res.Params) > 0 {
		info.Params = make(map[string]string, len(res.Params))
		for _, p := range res.Params {
			info.Params[p.Name] = p.Value
		}
	}
	return res.Value.handler.ServeHTTP(w, r)
}
