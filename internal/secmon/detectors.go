package secmon

import (
	"net/netip"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/secevent"
)

// Detector names (security.detectors.<name>, metric labels).
const (
	DetectCredentialStuffing = "credential_stuffing"
	DetectScanning           = "scanning"
	DetectObjectProbing      = "object_probing"
	DetectRejectionBursts    = "rejection_bursts"
	DetectConsumerAnomaly    = "consumer_anomaly"
	DetectAdminAbuse         = "admin_abuse"
	DetectRouteFailures      = "route_failures"
)

var detectorNames = []string{DetectCredentialStuffing, DetectScanning, DetectObjectProbing, DetectRejectionBursts,
	DetectConsumerAnomaly, DetectAdminAbuse, DetectRouteFailures}

// response is what a detector's match leads to.
type response struct {
	action string // alert, block, read_only, observe
	target string // ip, consumer, credential ("" for alert-only detectors)
	ladder []time.Duration
}

func responseOf(r config.DetectorResponse) response {
	out := response{action: r.Action, target: r.Target}
	for _, d := range r.Block {
		out.ladder = append(out.ladder, d.D())
	}
	return out
}

// detection is one match of a detector's rule.
type detection struct {
	detector string
	resp     response
	at       time.Time
	// What it is about; the response's target picks one.
	ip         netip.Addr // a source (sourceOf)
	consumer   string
	credential string
	route      string
	actor      string
	reason     string
	evidence   map[string]int64
}

// detector is one rule over the event stream. The monitor runs every
// detector on its own goroutine, one event at a time: no locks.
type detector interface {
	name() string
	// observe looks at one event (or request observation) and returns a
	// detection when the rule matches.
	observe(ev *secevent.Event) *detection
	// sweep forgets sources idle for a whole window.
	sweep(now time.Time)
	// needsRequests reports whether it reads request observations.
	needsRequests() bool
}

// buildDetectors compiles the enabled detectors of cfg.
func buildDetectors(cfg config.Detectors, evicted func(string)) []detector {
	ev := func(name string) func() { return func() { evicted(name) } }
	var out []detector
	if c := cfg.CredentialStuffing; *c.Enabled {
		out = append(out, newStuffing(c, cfg.MaxTracked, ev(DetectCredentialStuffing)))
	}
	if c := cfg.Scanning; *c.Enabled {
		out = append(out, newScanning(c, cfg.MaxTracked, ev(DetectScanning)))
	}
	if c := cfg.ObjectProbing; *c.Enabled {
		out = append(out, newProbing(c, cfg.MaxTracked, ev(DetectObjectProbing)))
	}
	if c := cfg.RejectionBursts; *c.Enabled {
		out = append(out, newBursts(c, cfg.MaxTracked, ev(DetectRejectionBursts)))
	}
	if c := cfg.ConsumerAnomaly; *c.Enabled {
		out = append(out, newAnomaly(c, cfg.MaxTracked, ev(DetectConsumerAnomaly)))
	}
	if c := cfg.AdminAbuse; *c.Enabled {
		out = append(out, newAdminAbuse(c, cfg.MaxTracked, ev(DetectAdminAbuse)))
	}
	if c := cfg.RouteFailures; *c.Enabled {
		out = append(out, newRouteFailures(c, cfg.MaxTracked, ev(DetectRouteFailures)))
	}
	return out
}

// ---- credential stuffing

// stuffing counts distinct presented credentials failing from one source.
// Each credential may fail only once or twice, which a per-credential
// counter (the brute-force defence) never notices.
type stuffing struct {
	resp     response
	width    int64
	window   time.Duration
	distinct int
	sources  *table[netip.Addr, stuffingState]
}

type stuffingState struct {
	creds    distinct
	failures window
}

func newStuffing(c config.CredentialStuffing, maxTracked int, evicted func()) *stuffing {
	return &stuffing{resp: responseOf(c.DetectorResponse), width: width(c.Window.D()), window: c.Window.D(),
		distinct: c.DistinctCredentials, sources: newTable[netip.Addr, stuffingState](maxTracked, evicted)}
}

func (d *stuffing) name() string        { return DetectCredentialStuffing }
func (d *stuffing) needsRequests() bool { return false }
func (d *stuffing) sweep(now time.Time) { d.sources.sweep(bucketOf(now, d.width)) }

func (d *stuffing) observe(ev *secevent.Event) *detection {
	if ev.Type != secevent.AuthFailure || ev.Credential == "" || !ev.ClientIP.IsValid() {
		return nil
	}
	src := sourceOf(ev.ClientIP)
	b := bucketOf(ev.Time, d.width)
	st := d.sources.get(src, b, func() stuffingState { return stuffingState{creds: distinct{}} })
	failures := st.failures.add(b, 1)
	n := st.creds.add(hashString(ev.Credential), b, d.distinct)
	if n < d.distinct {
		return nil
	}
	d.sources.remove(src)
	return &detection{detector: DetectCredentialStuffing, resp: d.resp, at: ev.Time, ip: src,
		reason:   "many distinct credentials failed from one source",
		evidence: map[string]int64{"distinct_credentials": int64(n), "failures": int64(failures), "window_seconds": int64(d.window / time.Second)}}
}

// ---- scanning

// scanning counts refusals of paths, methods and malformed requests from
// one source.
type scanning struct {
	resp      response
	width     int64
	window    time.Duration
	threshold uint32
	sources   *table[netip.Addr, window]
}

func newScanning(c config.Scanning, maxTracked int, evicted func()) *scanning {
	return &scanning{resp: responseOf(c.DetectorResponse), width: width(c.Window.D()), window: c.Window.D(),
		threshold: uint32(c.Threshold), sources: newTable[netip.Addr, window](maxTracked, evicted)}
}

func (d *scanning) name() string        { return DetectScanning }
func (d *scanning) needsRequests() bool { return true }
func (d *scanning) sweep(now time.Time) { d.sources.sweep(bucketOf(now, d.width)) }

// scanStatus are the answers a scanner collects: malformed (400), no such
// path (404), no such method (405), over-long target or headers (414,
// 431).
func scanStatus(s int) bool { return s == 400 || s == 404 || s == 405 || s == 414 || s == 431 }

func (d *scanning) observe(ev *secevent.Event) *detection {
	counted := ev.Type == secevent.Request && scanStatus(ev.Status) ||
		ev.Type == secevent.RequestRefused && ev.Reason == secevent.ReasonParser
	if !counted || !ev.ClientIP.IsValid() {
		return nil
	}
	src := sourceOf(ev.ClientIP)
	b := bucketOf(ev.Time, d.width)
	w := d.sources.get(src, b, func() window { return window{} })
	n := w.add(b, 1)
	if n < d.threshold {
		return nil
	}
	d.sources.remove(src)
	return &detection{detector: DetectScanning, resp: d.resp, at: ev.Time, ip: src,
		reason:   "a storm of refused paths, methods or malformed requests from one source",
		evidence: map[string]int64{"refusals": int64(n), "window_seconds": int64(d.window / time.Second)}}
}

// ---- object probing

// probing watches one consumer on one route with {params}: many distinct
// objects asked for, most of them refused or not found, is someone
// walking ids that are not theirs (BOLA).
type probing struct {
	resp     response
	width    int64
	window   time.Duration
	distinct int
	ratio    float64
	pairs    *table[probeKey, probeState]
}

type probeKey struct{ consumer, route string }

type probeState struct {
	objects          distinct
	requests, failed window
}

func newProbing(c config.ObjectProbing, maxTracked int, evicted func()) *probing {
	return &probing{resp: responseOf(c.DetectorResponse), width: width(c.Window.D()), window: c.Window.D(),
		distinct: c.DistinctObjects, ratio: c.FailureRatio, pairs: newTable[probeKey, probeState](maxTracked, evicted)}
}

func (d *probing) name() string        { return DetectObjectProbing }
func (d *probing) needsRequests() bool { return true }
func (d *probing) sweep(now time.Time) { d.pairs.sweep(bucketOf(now, d.width)) }

func (d *probing) observe(ev *secevent.Event) *detection {
	if ev.Type != secevent.Request || ev.Object == 0 || ev.Consumer == "" {
		return nil
	}
	k := probeKey{ev.Consumer, ev.Route}
	b := bucketOf(ev.Time, d.width)
	st := d.pairs.get(k, b, func() probeState { return probeState{objects: distinct{}} })
	total := st.requests.add(b, 1)
	var f uint32
	if ev.Status == 403 || ev.Status == 404 {
		f = 1
	}
	failed := st.failed.add(b, f)
	n := st.objects.add(ev.Object, b, d.distinct)
	if n < d.distinct || float64(failed) < d.ratio*float64(total) {
		return nil
	}
	d.pairs.remove(k)
	return &detection{detector: DetectObjectProbing, resp: d.resp, at: ev.Time, ip: sourceOf(ev.ClientIP),
		consumer: ev.Consumer, credential: ev.Credential, route: ev.Route,
		reason: "one consumer asked for many distinct objects, most refused or not found",
		evidence: map[string]int64{"distinct_objects": int64(n), "requests": int64(total), "refused_or_not_found": int64(failed),
			"window_seconds": int64(d.window / time.Second)}}
}

// ---- WAF and validation bursts

// bursts counts WAF and validation rejections per client IP or per
// consumer (the target).
type bursts struct {
	resp      response
	width     int64
	window    time.Duration
	threshold uint32
	keys      *table[string, window]
}

func newBursts(c config.RejectionBursts, maxTracked int, evicted func()) *bursts {
	return &bursts{resp: responseOf(c.DetectorResponse), width: width(c.Window.D()), window: c.Window.D(),
		threshold: uint32(c.Threshold), keys: newTable[string, window](maxTracked, evicted)}
}

func (d *bursts) name() string        { return DetectRejectionBursts }
func (d *bursts) needsRequests() bool { return false }
func (d *bursts) sweep(now time.Time) { d.keys.sweep(bucketOf(now, d.width)) }

func (d *bursts) observe(ev *secevent.Event) *detection {
	if ev.Type != secevent.WAFRejected && ev.Type != secevent.ValidationRejected {
		return nil
	}
	var k string
	switch {
	case d.resp.target == KindConsumer && ev.Consumer != "":
		k = "c:" + ev.Consumer
	case d.resp.target != KindConsumer && ev.ClientIP.IsValid():
		k = "i:" + sourceString(sourceOf(ev.ClientIP))
	default:
		return nil
	}
	b := bucketOf(ev.Time, d.width)
	w := d.keys.get(k, b, func() window { return window{} })
	n := w.add(b, 1)
	if n < d.threshold {
		return nil
	}
	d.keys.remove(k)
	return &detection{detector: DetectRejectionBursts, resp: d.resp, at: ev.Time, ip: sourceOf(ev.ClientIP),
		consumer: ev.Consumer, credential: ev.Credential,
		reason:   "a burst of WAF or validation rejections",
		evidence: map[string]int64{"rejections": int64(n), "window_seconds": int64(d.window / time.Second)}}
}

// ---- admin abuse

// adminAbuse counts failed admin authentications per client IP and key
// changes per admin.
type adminAbuse struct {
	resp              response
	width             int64
	window            time.Duration
	failures, changes uint32
	byIP              *table[netip.Addr, window]
	byActor           *table[string, window]
}

func newAdminAbuse(c config.AdminAbuse, maxTracked int, evicted func()) *adminAbuse {
	return &adminAbuse{resp: response{action: c.Action}, width: width(c.Window.D()), window: c.Window.D(),
		failures: uint32(c.AuthFailures), changes: uint32(c.KeyChanges),
		byIP: newTable[netip.Addr, window](maxTracked, evicted), byActor: newTable[string, window](maxTracked, evicted)}
}

func (d *adminAbuse) name() string        { return DetectAdminAbuse }
func (d *adminAbuse) needsRequests() bool { return false }
func (d *adminAbuse) sweep(now time.Time) {
	b := bucketOf(now, d.width)
	d.byIP.sweep(b)
	d.byActor.sweep(b)
}

func (d *adminAbuse) observe(ev *secevent.Event) *detection {
	b := bucketOf(ev.Time, d.width)
	switch {
	case ev.Type == secevent.AdminAuthFailure && ev.ClientIP.IsValid():
		src := sourceOf(ev.ClientIP)
		w := d.byIP.get(src, b, func() window { return window{} })
		if n := w.add(b, 1); n >= d.failures {
			d.byIP.remove(src)
			return &detection{detector: DetectAdminAbuse, resp: d.resp, at: ev.Time, ip: src,
				reason:   "a burst of failed admin API authentications",
				evidence: map[string]int64{"auth_failures": int64(n), "window_seconds": int64(d.window / time.Second)}}
		}
	case ev.Type == secevent.KeyLifecycle && ev.Actor != "":
		w := d.byActor.get(ev.Actor, b, func() window { return window{} })
		if n := w.add(b, 1); n >= d.changes {
			d.byActor.remove(ev.Actor)
			return &detection{detector: DetectAdminAbuse, resp: d.resp, at: ev.Time, ip: sourceOf(ev.ClientIP), actor: ev.Actor,
				reason:   "mass key changes by one admin",
				evidence: map[string]int64{"key_changes": int64(n), "window_seconds": int64(d.window / time.Second)}}
		}
	}
	return nil
}

// ---- route failure ratio

// routeFailures judges each route's share of failed authentications over
// every source at once: a distributed stuffing run keeps each IP below
// any per-source threshold, but not the route's failure ratio.
type routeFailures struct {
	resp        response
	width       int64
	window      time.Duration
	minFailures uint32
	ratio       float64
	routes      *table[string, routeState]
}

type routeState struct{ attempts, failures window }

func newRouteFailures(c config.RouteFailures, maxTracked int, evicted func()) *routeFailures {
	return &routeFailures{resp: response{action: c.Action}, width: width(c.Window.D()), window: c.Window.D(),
		minFailures: uint32(c.MinFailures), ratio: c.Ratio, routes: newTable[string, routeState](maxTracked, evicted)}
}

func (d *routeFailures) name() string        { return DetectRouteFailures }
func (d *routeFailures) needsRequests() bool { return true }
func (d *routeFailures) sweep(now time.Time) { d.routes.sweep(bucketOf(now, d.width)) }

func (d *routeFailures) observe(ev *secevent.Event) *detection {
	// An attempt is a request that presented a credential: it either
	// authenticated (a consumer) or failed with one.
	if ev.Type != secevent.Request || ev.Route == "" || ev.Credential == "" || (ev.Consumer == "" && !ev.AuthFailed) {
		return nil
	}
	b := bucketOf(ev.Time, d.width)
	st := d.routes.get(ev.Route, b, func() routeState { return routeState{} })
	attempts := st.attempts.add(b, 1)
	var f uint32
	if ev.AuthFailed {
		f = 1
	}
	failures := st.failures.add(b, f)
	if failures < d.minFailures || float64(failures) < d.ratio*float64(attempts) {
		return nil
	}
	d.routes.remove(ev.Route)
	return &detection{detector: DetectRouteFailures, resp: d.resp, at: ev.Time, route: ev.Route,
		reason: "a high share of failed authentications on one route across sources",
		evidence: map[string]int64{"failures": int64(failures), "attempts": int64(attempts),
			"window_seconds": int64(d.window / time.Second)}}
}
