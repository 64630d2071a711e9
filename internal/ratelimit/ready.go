package ratelimit

import (
	"errors"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/internal/lifecycle"
)

var _ lifecycle.Readiness = (*Limits)(nil)

// ReadyName is the /readyz entry of the rate-limit store.
const ReadyName = "ratelimit_store"

// Ready implements lifecycle.Readiness: while the Redis store is down, the
// instance is not ready if a policy in use refuses requests then
// (on_store_error: deny, every limited request gets 503), and degraded
// when every policy in use falls back (local or allow).
func (l *Limits) Ready() map[string]error {
	if l.stores.Up() {
		return nil
	}
	var deny, fallback []string
	for name, p := range l.byName {
		if !l.used[name] {
			continue
		}
		if p.onErr == modeDeny {
			deny = append(deny, name)
		} else {
			fallback = append(fallback, name+" ("+modeNames[p.onErr]+")")
		}
	}
	slices.Sort(deny)
	slices.Sort(fallback)
	if len(deny) > 0 {
		return map[string]error{ReadyName: errors.New("Redis unreachable: policies with on_store_error deny refuse every request they limit with 503: " + strings.Join(deny, ", "))}
	}
	msg := "Redis unreachable: limits are per instance or not applied until it is back"
	if len(fallback) > 0 {
		msg += ": " + strings.Join(fallback, ", ")
	}
	return map[string]error{ReadyName: lifecycle.DegradedError(msg)}
}
