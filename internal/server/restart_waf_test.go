package server

import (
	"slices"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
)

// The WAF log is opened once per process (internal/app): a reload that
// changes logging.waf reports it and keeps the running value, instead of
// appearing to apply a log that is never opened.
func TestReloadKeepsWAFLog(t *testing.T) {
	running := &config.Config{Logging: config.Logging{WAF: config.WAFLog{Output: "stderr"}}}
	for _, tc := range []struct {
		name    string
		next    config.WAFLog
		changed bool
	}{
		{"unchanged", config.WAFLog{Output: "stderr"}, false},
		{"turned on", config.WAFLog{Enabled: true, Output: "stderr"}, true},
		{"other output", config.WAFLog{Output: "/var/log/waf.log"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := &config.Config{Logging: config.Logging{WAF: tc.next}}
			out, changed := keepRunning(running, next)
			if got := slices.Contains(changed, "logging.waf"); got != tc.changed {
				t.Errorf("reported changed = %v (%v), want %v", got, changed, tc.changed)
			}
			if out.Logging.WAF != running.Logging.WAF {
				t.Errorf("applied %+v, want the running %+v", out.Logging.WAF, running.Logging.WAF)
			}
		})
	}
}
