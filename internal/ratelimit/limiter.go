// Package ratelimit owns throttling: named policies made of a GCRA rate
// limit, a calendar quota and a concurrency limit, keyed by consumer, API
// key, client IP, route, header or claim; the stores that hold their state
// (a bounded in-process store and a Redis store shared by a cluster, with
// per-policy fallback when Redis is unreachable); the route middleware that
// answers 429 and sets the IETF RateLimit-Policy / RateLimit fields; and the
// failure counters and block ladder the brute-force defence is built on.
package ratelimit

import (
	"context"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/secevent"
)

// Limits is one runtime's compiled rate-limit configuration. It is rebuilt
// on every reload; the state it counts in lives in the Stores.
type Limits struct {
	stores *Stores
	loc    *time.Location
	legacy bool
	byName map[string]*policy
	global []*policy
	tiers  map[string][]*policy
	// used are the policies some route applies (Route marks them while
	// the runtime is built): only they make /readyz fail.
	used map[string]bool
}

// New compiles cfg, which config.Parse validated (every policy a route,
// global or tier names exists; the time zone is loaded).
func New(cfg config.RateLimits, stores *Stores) *Limits {
	instances := int64(max(1, cfg.Instances))
	l := &Limits{stores: stores, loc: cfg.TimeZone.Location(), legacy: cfg.LegacyHeaders, byName: map[string]*policy{}, tiers: map[string][]*policy{}, used: map[string]bool{}}
	for _, pc := range cfg.Policies {
		l.byName[pc.Name] = compilePolicy(pc, instances, stores.metrics)
	}
	resolve := func(names []string) []*policy {
		out := make([]*policy, 0, len(names))
		for _, n := range names {
			out = append(out, l.byName[n])
		}
		return out
	}
	l.global = resolve(cfg.Global)
	for tier, names := range cfg.Tiers {
		l.tiers[tier] = resolve(names)
	}
	return l
}

// Route returns the stage enforcing the route's policies (its own, or its
// caller's tier's, plus the global ones), or nil when none applies. The
// route's rate_limits must name known policies (Validate checks).
func (l *Limits) Route(rc config.Route) pipeline.Stage {
	rl := &routeLimits{l: l, lease: rc.Timeout.D() + time.Minute, tiers: map[string][]*bound{}}
	for _, p := range l.global {
		rl.global = append(rl.global, bind(p, rc.Name))
	}
	for _, n := range rc.RateLimits {
		if p, ok := l.byName[n]; ok {
			rl.own = append(rl.own, bind(p, rc.Name))
		}
	}
	if len(rl.global) == 0 && len(rl.own) == 0 {
		return nil
	}
	if len(rl.own) > 0 {
		for tier, ps := range l.tiers {
			for _, p := range ps {
				rl.tiers[tier] = append(rl.tiers[tier], bind(p, rc.Name))
			}
		}
	}
	for _, list := range [][]*bound{rl.global, rl.own} {
		for _, b := range list {
			l.used[b.p.name] = true
		}
	}
	for _, list := range rl.tiers {
		for _, b := range list {
			l.used[b.p.name] = true
		}
	}
	return rl
}

var _ pipeline.Stage = (*routeLimits)(nil)

// Name implements pipeline.Stage.
func (rl *routeLimits) Name() string { return "rate_limit" }

// ReportsRefusals implements secevent.Reporter (RateLimited).
func (rl *routeLimits) ReportsRefusals() {}

// Phase implements pipeline.Stage.
func (rl *routeLimits) Phase() pipeline.Phase { return pipeline.Admission }

// Handle implements pipeline.Stage.
func (rl *routeLimits) Handle(next pipeline.Handler) pipeline.Handler {
	return &limited{rl: rl, next: next}
}

// routeLimits are the policies of one route.
type routeLimits struct {
	l      *Limits
	global []*bound
	own    []*bound
	tiers  map[string][]*bound // replace own for a caller of that tier
	lease  time.Duration
}

type limited struct {
	rl   *routeLimits
	next pipeline.Handler
}

var _ pipeline.Handler = (*limited)(nil)

// ServeHTTP checks every applicable policy in one store call; sets the
// RateLimit fields on the response (proxied responses included); answers
// 429 when a limit is reached; and holds concurrency slots until next
// returns.
func (h *limited) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	rl := h.rl
	info := reqinfo.From(r.Context())
	if info.Uncounted {
		// An idempotent replay: answered from stored state, it costs the
		// upstream nothing and a client retrying after a timeout must not
		// be refused its own answer. The forwarder refuses such a request.
		return h.next.ServeHTTP(w, r)
	}
	own := rl.own
	if pr := info.Principal; pr != nil && pr.Tier != "" && len(own) > 0 {
		if t, ok := rl.tiers[pr.Tier]; ok {
			own = t
		}
	}
	now := rl.l.stores.clock()
	n := 3 * (len(rl.global) + len(own))
	checks, owners := make([]Check, 0, n), make([]*bound, 0, n)
	var keyBuf [128]byte
	clustered := rl.l.stores.clustered()
	for _, list := range [2][]*bound{rl.global, own} {
		for _, b := range list {
			p := b.p
			kb, ok := p.key.appendKey(keyBuf[:0], r, info)
			if !ok {
				if p.skipMissing {
					p.decisions[resSkipped].Inc()
					continue
				}
				kb = appendFallbackKey(keyBuf[:0], info.ClientIP)
			}
			d := digest(kb)
			tag := ""
			if clustered {
				tag = digest(firstPart(kb))
			}
			cost := b.cost(r.Method)
			if p.rate != nil {
				checks = append(checks, Check{Kind: KindRate, Key: p.prefix + "r:" + d, Tag: tag, Cost: cost, Interval: p.rate.interval, Burst: p.rate.burst})
				owners = append(owners, b)
			}
			if p.quota != nil {
				checks = append(checks, Check{Kind: KindQuota, Key: p.prefix + "q:" + d, Tag: tag, Cost: cost, Limit: p.quota.limit,
					Windows: p.quota.windows(now, rl.l.loc)})
				owners = append(owners, b)
			}
			if p.conc > 0 {
				checks = append(checks, Check{Kind: KindConcurrency, Key: p.prefix + "c:" + d, Tag: tag, Cost: 1, Limit: p.conc,
					Lease: rl.lease, Token: rl.l.stores.token()})
				owners = append(owners, b)
			}
		}
	}
	if len(checks) == 0 {
		return h.next.ServeHTTP(w, r)
	}

	res, charged, store, err := rl.l.run(r.Context(), checks, owners)
	if err != nil {
		return err
	}
	allowed := true
	for _, x := range res {
		allowed = allowed && x.Allowed
	}
	setHeaders(w.Header(), checks, owners, res, charged, allowed, rl.l.legacy)
	if !allowed {
		pe := rejection(checks, owners, res)
		secevent.Emit(r.Context(), secevent.Event{Type: secevent.RateLimited, Status: pe.Status, Reason: pe.Type + " " + pe.Cause.Error()})
		return pe
	}
	var leases []Lease
	for i, c := range checks {
		if c.Kind == KindConcurrency && charged[i] {
			leases = append(leases, Lease{Key: c.Key, Tag: c.Tag, Token: c.Token})
		}
	}
	last := (*policy)(nil)
	for _, b := range owners {
		if b.p != last {
			b.p.decisions[resAllowed].Inc()
			last = b.p
		}
	}
	if len(leases) > 0 {
		defer func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
			defer cancel()
			if err := store.Release(ctx, leases); err != nil {
				rl.l.stores.storeFailed(err)
			}
		}()
	}
	return h.next.ServeHTTP(w, r)
}

// run applies checks on the primary store. When Redis fails, each policy
// falls back as configured: local checks run on the in-process store with
// per-instance limits, allow checks pass uncounted (charged false), and a
// deny policy fails the request with 503. It returns the store the checks
// were charged in, for releasing concurrency slots.
func (l *Limits) run(ctx context.Context, checks []Check, owners []*bound) ([]Result, []bool, Store, error) {
	st := l.stores
	charged := make([]bool, len(checks))
	res, err := st.primary().Check(ctx, checks)
	if err == nil {
		for i := range charged {
			charged[i] = true
		}
		return res, charged, st.primary(), nil
	}
	st.storeFailed(err)
	if st.redis == nil {
		return nil, nil, nil, err // the memory store does not fail
	}
	res = make([]Result, len(checks))
	var local []Check
	var idx []int
	var last *policy
	for i, c := range checks {
		p := owners[i].p
		if p != last {
			p.fallbacks[p.onErr].Inc()
			last = p
		}
		switch p.onErr {
		case modeDeny:
			return nil, nil, nil, storeUnavailable(p.name, err)
		case modeAllow:
			res[i] = Result{Allowed: true}
		default:
			local = append(local, p.local(c))
			idx = append(idx, i)
			charged[i] = true
		}
	}
	if len(local) > 0 {
		lr, _ := st.memory.Check(ctx, local)
		for j, i := range idx {
			res[i] = lr[j]
		}
	}
	return res, charged, st.memory, nil
}
