package app

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
)

func TestSocketsThatCannotBothBeBound(t *testing.T) {
	tests := []struct {
		name     string
		listener string
		ops      string
		want     string // "" when both can be bound
	}{
		{"identical", "127.0.0.1:8443", "127.0.0.1:8443", "ops.address: 127.0.0.1:8443 cannot be bound: listeners[0].address (127.0.0.1:8443) already takes port 8443 on that address"},
		{"ipv4 wildcard and loopback", "0.0.0.0:8443", "127.0.0.1:8443", "ops.address: 127.0.0.1:8443 cannot be bound: listeners[0].address (0.0.0.0:8443) already takes port 8443 on that address"},
		{"dual-stack wildcard and ipv6 loopback", ":8443", "[::1]:8443", "ops.address: [::1]:8443 cannot be bound: listeners[0].address (:8443) already takes port 8443 on that address"},
		{"localhost is 127.0.0.1", "localhost:9090", "127.0.0.1:9090", "ops.address: 127.0.0.1:9090 cannot be bound: listeners[0].address (localhost:9090) already takes port 9090 on that address"},
		{"named port", "127.0.0.1:https", "127.0.0.1:443", "ops.address: 127.0.0.1:443 cannot be bound: listeners[0].address (127.0.0.1:https) already takes port 443 on that address"},
		{"ipv4 wildcard and ipv6 loopback", "0.0.0.0:8443", "[::1]:8443", ""},
		{"different ports", "0.0.0.0:8443", "127.0.0.1:9090", ""},
		{"different hosts", "127.0.0.1:8443", "127.0.0.2:8443", ""},
		{"port 0", "127.0.0.1:0", "127.0.0.1:0", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.WithDefaults(config.Config{
				Listeners: []config.Listener{{Name: "l", Address: tc.listener}},
				Ops:       config.Ops{Address: tc.ops},
			})
			var errs config.Errors
			checkSockets(&errs, &cfg, func(string) bool { return true })
			got := strings.TrimSpace(errs.Error())
			if got != tc.want {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}
