package proxy

import (
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Target is one backend address of an upstream with its health state.
type Target struct {
	// URL is the base URL; requests go to URL.Path + the request path.
	URL      *url.URL
	basePath string

	// healthy is the active health check verdict (true until a check says otherwise).
	healthy atomic.Bool
	// ejectedUntil is when passive ejection ends (unix nanoseconds, 0 if not ejected).
	ejectedUntil atomic.Int64
	// failures counts consecutive passive failures.
	failures atomic.Int32
}

func newTarget(u *url.URL) *Target {
	t := &Target{URL: u, basePath: strings.TrimSuffix(u.Path, "/")}
	t.healthy.Store(true)
	return t
}

// Available reports whether the target may receive traffic at now.
func (t *Target) Available(now time.Time) bool {
	return t.healthy.Load() && t.ejectedUntil.Load() <= now.UnixNano()
}

// recordSuccess resets the passive failure count.
func (t *Target) recordSuccess() {
	if t.failures.Load() != 0 {
		t.failures.Store(0)
	}
}

// recordFailure counts a failure and ejects the target after max in a row.
// It reports whether this failure ejected it.
func (t *Target) recordFailure(now time.Time, max int, ejectFor time.Duration) bool {
	if int(t.failures.Add(1)) < max {
		return false
	}
	t.failures.Store(0)
	t.ejectedUntil.Store(now.Add(ejectFor).UnixNano())
	return true
}
