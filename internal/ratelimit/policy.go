package ratelimit

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/internal/config"
)

// storeErrorMode is a policy's on_store_error.
type storeErrorMode uint8

const (
	modeLocal storeErrorMode = iota
	modeAllow
	modeDeny
)

var modeNames = [...]string{modeLocal: "local", modeAllow: "allow", modeDeny: "deny"}

// Decision results counted per policy.
const (
	resAllowed = iota
	resRateLimited
	resQuotaExceeded
	resConcurrencyLimited
	resSkipped
	numResults
)

var resultNames = [numResults]string{"allowed", "rate_limited", "quota_exceeded", "concurrency_limited", "skipped"}

// policy is a compiled rate_limits.policies entry.
type policy struct {
	name        string
	prefix      string // storage key prefix: "rl:<name>:"
	key         keySpec
	skipMissing bool
	onErr       storeErrorMode
	rate        *rateParams
	quota       *quotaParams
	conc        int64
	localConc   int64 // conc divided by the instance count
	costs       []config.RateCost

	decisions [numResults]prometheus.Counter
	fallbacks [len(modeNames)]prometheus.Counter
}

type rateParams struct {
	interval      time.Duration
	burst         int64
	localInterval time.Duration // interval times the instance count
	localBurst    int64         // burst divided by the instance count
	q, w          int64         // quota units and window seconds in RateLimit-Policy
	item          string        // the RateLimit-Policy item, e.g. `"api";q=100;w=1`
}

type quotaParams struct {
	limit  int64
	local  int64
	period string
	name   string // the header item name, `"api.quota"`
	cache  atomic.Pointer[[3]Window]
}

// windows returns the calendar windows around now, computed once per
// window rather than once per request.
func (q *quotaParams) windows(now time.Time, loc *time.Location) *[3]Window {
	if w := q.cache.Load(); w != nil && !now.Before(w[1].Start) && now.Before(w[1].End) {
		return w
	}
	w := CalendarWindows(now, q.period, loc)
	q.cache.Store(&w)
	return &w
}

func compilePolicy(pc config.RateLimitPolicy, instances int64, m *Metrics) *policy {
	p := &policy{
		name:        pc.Name,
		prefix:      "rl:" + pc.Name + ":",
		key:         parseKey(pc.Key),
		skipMissing: pc.OnMissingKey == "skip",
		conc:        int64(pc.Concurrency),
		localConc:   max(1, int64(pc.Concurrency)/instances),
		costs:       pc.Costs,
	}
	switch pc.OnStoreError {
	case "allow":
		p.onErr = modeAllow
	case "deny":
		p.onErr = modeDeny
	}
	if r := pc.Rate; r != nil {
		iv := max(r.Period.D()/time.Duration(r.Limit), time.Microsecond) // Validate rejects finer rates
		q, w := headerWindow(r.Limit, r.Period.D())
		p.rate = &rateParams{
			interval:      iv,
			burst:         r.Burst,
			localInterval: iv * time.Duration(instances),
			localBurst:    max(1, r.Burst/instances),
			q:             q,
			w:             w,
			item:          `"` + pc.Name + `";q=` + strconv.FormatInt(q, 10) + ";w=" + strconv.FormatInt(w, 10),
		}
	}
	if q := pc.Quota; q != nil {
		p.quota = &quotaParams{limit: q.Limit, local: max(1, q.Limit/instances), period: q.Period, name: `"` + pc.Name + `.quota"`}
	}
	for i, n := range resultNames {
		p.decisions[i] = m.decisions.WithLabelValues(pc.Name, n)
	}
	for i, n := range modeNames {
		p.fallbacks[i] = m.fallbacks.WithLabelValues(pc.Name, n)
	}
	return p
}

// headerWindow expresses limit per period as the whole-second quota and
// window the RateLimit-Policy field allows: "10 per 100ms" is q=100;w=1.
func headerWindow(limit int64, period time.Duration) (q, w int64) {
	if period%time.Second == 0 {
		return limit, int64(period / time.Second)
	}
	w = int64((period + time.Second - 1) / time.Second)
	return max(1, int64(float64(limit)*float64(w)*float64(time.Second)/float64(period))), w
}

// local returns c with this policy's per-instance fallback limits.
func (p *policy) local(c Check) Check {
	switch c.Kind {
	case KindRate:
		c.Interval, c.Burst = p.rate.localInterval, p.rate.localBurst
		c.Cost = min(c.Cost, c.Burst)
	case KindQuota:
		c.Limit = p.quota.local
		c.Cost = min(c.Cost, c.Limit)
	case KindConcurrency:
		c.Limit = p.localConc
	}
	return c
}

// bound is a policy as it applies on one route: its costs resolved by
// method once, at build time.
type bound struct {
	p        *policy
	byMethod map[string]int64
	def      int64
}

// routeMethods are the methods costs are resolved for; others use the
// cost of the first entry that names no methods.
var routeMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func bind(p *policy, route string) *bound {
	b := &bound{p: p, byMethod: map[string]int64{}, def: costFor(p.costs, route, "")}
	for _, m := range routeMethods {
		b.byMethod[m] = costFor(p.costs, route, m)
	}
	return b
}

// costFor is the cost of the first entry matching route and method
// (method "" matches only entries without methods).
func costFor(costs []config.RateCost, route, method string) int64 {
	for _, c := range costs {
		if len(c.Routes) > 0 && !has(c.Routes, route) {
			continue
		}
		if len(c.Methods) > 0 && (method == "" || !has(c.Methods, method)) {
			continue
		}
		return c.Cost
	}
	return 1
}

func has(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (b *bound) cost(method string) int64 {
	if c, ok := b.byMethod[method]; ok {
		return c
	}
	return b.def
}
