package server

import (
	"reflect"

	"github.com/portcullis/portcullis/internal/config"
)

// restartOnly are the settings a reload cannot apply: what is built once
// per process (listeners and their sockets, the ops listener, the tracing
// exporter, the access log's and the WAF log's writers, the key service with its pool, cache
// and change feed, the admin API, the rate-limit stores). A reload logs each
// one that changed and keeps the running value. docs/operations.md lists
// exactly these keys (TestRestartOnlyIsDocumented).
var restartOnly = []restartSetting{
	kept("listeners", func(c *config.Config) *[]config.Listener { return &c.Listeners }),
	kept("ops", func(c *config.Config) *config.Ops { return &c.Ops }),
	kept("tracing", func(c *config.Config) *config.Tracing { return &c.Tracing }),
	kept("logging.access.enabled", func(c *config.Config) **bool { return &c.Logging.Access.Enabled }),
	kept("logging.access.output", func(c *config.Config) *string { return &c.Logging.Access.Output }),
	kept("logging.access.buffer_size", func(c *config.Config) *config.ByteSize { return &c.Logging.Access.BufferSize }),
	kept("logging.access.flush_interval", func(c *config.Config) *config.Duration { return &c.Logging.Access.FlushInterval }),
	kept("logging.waf", func(c *config.Config) *config.WAFLog { return &c.Logging.WAF }),
	kept("keys", func(c *config.Config) *config.Keys { return &c.Keys }),
	kept("admin", func(c *config.Config) *config.Admin { return &c.Admin }),
	kept("rate_limits.store", func(c *config.Config) *config.RateLimitStore { return &c.RateLimits.Store }),
}

// RestartOnlyKeys lists the settings that need a restart, in order.
func RestartOnlyKeys() []string {
	out := make([]string, len(restartOnly))
	for i, s := range restartOnly {
		out[i] = s.key
	}
	return out
}

type restartSetting struct {
	key string
	// keep copies the running value into next and reports whether next
	// wanted another one.
	keep func(running, next *config.Config) bool
}

func kept[T any](key string, field func(*config.Config) *T) restartSetting {
	return restartSetting{key: key, keep: func(running, next *config.Config) bool {
		r, n := field(running), field(next)
		if reflect.DeepEqual(*r, *n) {
			return false
		}
		*n = *r
		return true
	}}
}

// keepRunning returns next with every restart-only setting at its running
// value, and the keys that differed.
func keepRunning(running, next *config.Config) (*config.Config, []string) {
	out := *next
	var changed []string
	for _, s := range restartOnly {
		if s.keep(running, &out) {
			changed = append(changed, s.key)
		}
	}
	return &out, changed
}
