package secmon

import (
	"math"
	"net/netip"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/secevent"
)

// anomaly compares each consumer with its own past: requests and error
// answers per interval (the detector's window) against an exponentially
// weighted moving average of the previous intervals. A consumer whose
// current interval already holds Factor times its baseline (and at least
// the minimum) is an anomaly, reported once per interval. It also counts
// the distinct client IPs each credential is used from.
type anomaly struct {
	resp        response
	interval    time.Duration
	factor      float64
	minRequests float64
	minErrors   float64
	warmup      int
	alpha       float64
	maxIPs      int
	ipWidth     int64
	ipWindow    time.Duration
	consumers   *table[string, consumerRate]
	credentials *table[string, credentialIPs]
}

type consumerRate struct {
	cur              int64 // current interval number
	requests, errors float64
	baseReq, baseErr float64
	intervals        int // closed intervals folded into the baseline
	fired            bool
}

type credentialIPs struct {
	consumer string
	ips      distinct
}

func newAnomaly(c config.ConsumerAnomaly, maxTracked int, evicted func()) *anomaly {
	return &anomaly{resp: responseOf(c.DetectorResponse), interval: c.Window.D(), factor: c.Factor,
		minRequests: float64(c.MinRequests), minErrors: float64(c.MinErrors), warmup: c.Warmup, alpha: c.Smoothing,
		maxIPs: c.MaxIPs, ipWidth: width(c.IPWindow.D()), ipWindow: c.IPWindow.D(),
		consumers:   newTable[string, consumerRate](maxTracked, evicted),
		credentials: newTable[string, credentialIPs](maxTracked, evicted)}
}

func (d *anomaly) name() string        { return DetectConsumerAnomaly }
func (d *anomaly) needsRequests() bool { return true }

// sweep forgets consumers quiet for warmup intervals (their baseline
// has decayed to little) and credentials idle for the IP window.
func (d *anomaly) sweep(now time.Time) {
	iv := now.UnixNano() / int64(d.interval)
	for k, e := range d.consumers.entries {
		if iv-e.v.cur > int64(d.warmup)*nBuckets {
			delete(d.consumers.entries, k)
		}
	}
	d.credentials.sweep(bucketOf(now, d.ipWidth))
}

// roll folds the finished intervals up to iv into the baseline.
func (r *consumerRate) roll(iv int64, alpha float64) {
	if iv <= r.cur {
		return
	}
	if r.cur != 0 {
		r.baseReq = alpha*r.requests + (1-alpha)*r.baseReq
		r.baseErr = alpha*r.errors + (1-alpha)*r.baseErr
		r.intervals++
		if gap := iv - r.cur - 1; gap > 0 {
			// Quiet intervals count as zeros.
			decay := math.Pow(1-alpha, float64(min(gap, 1000)))
			r.baseReq *= decay
			r.baseErr *= decay
			r.intervals += int(min(gap, 1000))
		}
	}
	r.cur, r.requests, r.errors, r.fired = iv, 0, 0, false
}

func (d *anomaly) observe(ev *secevent.Event) *detection {
	if ev.Type != secevent.Request || ev.Consumer == "" {
		return nil
	}
	if det := d.observeIPs(ev); det != nil {
		return det
	}
	iv := ev.Time.UnixNano() / int64(d.interval)
	r := d.consumers.get(ev.Consumer, bucketOf(ev.Time, int64(d.interval)/nBuckets), func() consumerRate { return consumerRate{} })
	r.roll(iv, d.alpha)
	r.requests++
	if ev.Status >= 400 {
		r.errors++
	}
	if r.fired || r.intervals < d.warmup {
		return nil
	}
	what, cur, base := "", 0.0, 0.0
	switch {
	case r.requests >= d.minRequests && r.requests > d.factor*r.baseReq:
		what, cur, base = "request rate", r.requests, r.baseReq
	case r.errors >= d.minErrors && r.errors > d.factor*r.baseErr:
		what, cur, base = "error rate", r.errors, r.baseErr
	default:
		return nil
	}
	r.fired = true
	return &detection{detector: DetectConsumerAnomaly, resp: d.resp, at: ev.Time, ip: sourceOf(ev.ClientIP),
		consumer: ev.Consumer, credential: ev.Credential,
		reason: "a consumer's " + what + " far above its own baseline",
		evidence: map[string]int64{"current": int64(cur), "baseline": int64(math.Round(base)),
			"interval_seconds": int64(d.interval / time.Second)}}
}

// observeIPs counts the client IPs a credential is used from.
func (d *anomaly) observeIPs(ev *secevent.Event) *detection {
	if d.maxIPs == 0 || ev.Credential == "" || !ev.ClientIP.IsValid() {
		return nil
	}
	b := bucketOf(ev.Time, d.ipWidth)
	st := d.credentials.get(ev.Credential, b, func() credentialIPs { return credentialIPs{ips: distinct{}} })
	st.consumer = ev.Consumer
	src := sourceOf(ev.ClientIP)
	n := st.ips.add(addrHash(src), b, d.maxIPs)
	if n < d.maxIPs {
		return nil
	}
	d.credentials.remove(ev.Credential)
	return &detection{detector: DetectConsumerAnomaly, resp: d.resp, at: ev.Time, ip: src,
		consumer: ev.Consumer, credential: ev.Credential,
		reason:   "one credential used from unusually many client IPs",
		evidence: map[string]int64{"client_ips": int64(n), "window_seconds": int64(d.ipWindow / time.Second)}}
}

func addrHash(a netip.Addr) uint64 {
	b := a.As16()
	return hashString(string(b[:]))
}
