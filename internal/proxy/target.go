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
	// outcomes counts this window's requests and the failures the target caused.
	outcomes outcomeWindow
	// spared is the window (plus one) in which the target crossed the
	// failure ratio but was kept in rotation, so that is logged once per window.
	spared atomic.Uint64
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

// Ejected reports whether passive ejection keeps the target out at now.
func (t *Target) Ejected(now time.Time) bool {
	return t.ejectedUntil.Load() > now.UnixNano()
}
