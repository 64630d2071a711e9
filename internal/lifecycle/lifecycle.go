// Package lifecycle owns the named interfaces through which the runtime,
// the ops listener and reload find the parts of a process that take part
// in its life beyond serving a request: loading ahead of the first
// request, reporting readiness, and releasing what they hold. Parts declare
// them with compile-time guards (var _ lifecycle.Readiness = (*X)(nil));
// nothing is found by anonymous type assertions.
package lifecycle

import "errors"

// Prefetcher loads what the first request would otherwise wait for (a
// remote JWKS), without blocking.
type Prefetcher interface {
	Prefetch()
}

// Readiness reports the state of what a part depends on, by name (an
// issuer, an upstream): nil when ready; an error for which IsDegraded is
// true when the part still serves (from a cache, with stale keys) and
// /readyz should warn; any other error when the part cannot serve.
type Readiness interface {
	Ready() map[string]error
}

// Closer releases what a part holds (idle connections, goroutines) when
// the runtime that owns it is retired by a reload or shutdown. Requests
// still running on the part complete normally.
type Closer interface {
	Close() error
}

// Degraded is implemented by readiness errors that mean "serving, but
// report it".
type Degraded interface {
	Degraded() bool
}

// IsDegraded reports whether err is a degraded readiness report.
func IsDegraded(err error) bool {
	var d Degraded
	return errors.As(err, &d) && d.Degraded()
}

// Severity orders readiness reports: 0 ready, 1 degraded, 2 not ready.
func Severity(err error) int {
	switch {
	case err == nil:
		return 0
	case IsDegraded(err):
		return 1
	}
	return 2
}

// degraded is a readiness report that still serves.
type degraded struct{ msg string }

func (d *degraded) Error() string  { return d.msg }
func (d *degraded) Degraded() bool { return true }

// DegradedError is a readiness report for a part that still serves (from a
// cache, or with a fallback): /readyz lists it under warnings and answers
// 200 "degraded".
func DegradedError(msg string) error { return &degraded{msg: msg} }
