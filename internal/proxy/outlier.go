package proxy

import (
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// outlierDetection is an upstream's passive ejection, after Envoy's
// failure-percentage outlier detection: a target is ejected when, in one
// fixed window, it served at least minRequests and at least ratio of them
// failed. Single events never eject, a client cannot make its own errors
// count (see upstreamFault), and ejection never takes out more than
// maxEjected targets nor the last available one, so a burst of failures
// degrades an upstream but never empties it.
type outlierDetection struct {
	ratio       float64
	minRequests uint64
	window      int64 // nanoseconds
	ejectFor    time.Duration
	maxEjected  int
}

func newOutlierDetection(pe config.PassiveEjection, targets int) outlierDetection {
	return outlierDetection{
		ratio:       pe.FailureRatio,
		minRequests: uint64(pe.MinRequests),
		window:      int64(pe.Window.D()),
		ejectFor:    pe.EjectFor.D(),
		maxEjected:  targets * pe.MaxEjectionPercent / 100,
	}
}

// record counts one attempt on t at now and ejects t when its window has
// crossed the failure ratio.
func (u *Upstream) record(t *Target, now time.Time, failed bool) {
	od := &u.outlier
	epoch := uint64(now.UnixNano() / od.window)
	requests, failures := t.outcomes.add(epoch, failed)
	if !failed || requests < od.minRequests || float64(failures) < od.ratio*float64(requests) {
		return
	}
	if t.Ejected(now) || t.spared.Load() == epoch+1 {
		return
	}
	u.eject(t, now, epoch, requests, failures)
}

// eject takes t out of rotation unless that would exceed the ejection
// budget or leave the upstream without an available target. Decisions are
// serialised so two targets failing at once cannot both take the last
// place.
func (u *Upstream) eject(t *Target, now time.Time, epoch, requests, failures uint64) {
	u.ejectMu.Lock()
	defer u.ejectMu.Unlock()
	if t.Ejected(now) {
		return
	}
	ejected, others := 0, 0
	for _, o := range u.Targets {
		switch {
		case o.Ejected(now):
			ejected++
		case o != t && o.healthy.Load():
			others++
		}
	}
	if others == 0 || ejected >= u.outlier.maxEjected {
		t.spared.Store(epoch + 1)
		reason := "it is the last available target"
		if others > 0 {
			reason = "max_ejection_percent reached"
		}
		u.log.Warn("upstream target failing but kept in rotation", "upstream", u.Name, "target", t.URL.Host,
			"requests", requests, "failures", failures, "reason", reason)
		return
	}
	t.ejectedUntil.Store(now.Add(u.outlier.ejectFor).UnixNano())
	t.outcomes.reset()
	u.log.Warn("upstream target ejected", "upstream", u.Name, "target", t.URL.Host,
		"requests", requests, "failures", failures, "for", u.outlier.ejectFor.String())
}

// endEjection puts t back at once: an active health check just passed, and
// it knows better than the failures that ejected t (a restarted upstream
// must not stay out for the rest of eject_for).
func (u *Upstream) endEjection(t *Target) {
	if t.ejectedUntil.Swap(0) > u.now().UnixNano() {
		t.outcomes.reset()
		u.log.Info("upstream target back in rotation: health check passed", "upstream", u.Name, "target", t.URL.Host)
	}
}

// outcomeWindow counts requests and failures in the current fixed window,
// packed into one word (window number, failures, requests) so that the
// request path updates it with one compare-and-swap and no lock.
type outcomeWindow struct{ v atomic.Uint64 }

const (
	countBits = 22
	countMax  = 1<<countBits - 1
	epochBits = 64 - 2*countBits
	epochMask = 1<<epochBits - 1
)

// add counts one outcome in window epoch (counts of an older window are
// dropped first) and returns the window's counts after it. Counts stop at
// countMax, far above any min_requests.
func (w *outcomeWindow) add(epoch uint64, failed bool) (requests, failures uint64) {
	epoch &= epochMask
	for {
		old := w.v.Load()
		var req, fail uint64
		if old>>(2*countBits) == epoch {
			req, fail = old&countMax, old>>countBits&countMax
		}
		if req < countMax {
			req++
			if failed {
				fail++
			}
		}
		if w.v.CompareAndSwap(old, epoch<<(2*countBits)|fail<<countBits|req) {
			return req, fail
		}
	}
}

func (w *outcomeWindow) reset() { w.v.Store(0) }
