package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Only a plain RFC 6455 opening request is a WebSocket upgrade the
// gateway may forward; anything else is forwarded without Upgrade.
func TestIsWebSocketUpgrade(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		protoMinor int
		body       string
		header     http.Header
		want       bool
	}{
		{"websocket", "GET", 1, "", http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"WebSocket"}}, true},
		{"h2c", "GET", 1, "", http.Header{"Connection": {"Upgrade, HTTP2-Settings"}, "Upgrade": {"h2c"}}, false},
		{"h2c in a list", "GET", 1, "", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket, h2c"}}, false},
		{"two Upgrade lines", "GET", 1, "", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket", "h2c"}}, false},
		{"no Connection: upgrade", "GET", 1, "", http.Header{"Upgrade": {"websocket"}}, false},
		{"POST", "POST", 1, "", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, false},
		{"with a body", "GET", 1, "x", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, false},
		{"HTTP/1.0", "GET", 0, "", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			r := httptest.NewRequest(tt.method, "http://gateway/ws", body)
			r.ProtoMinor = tt.protoMinor
			r.Header = tt.header
			if got := isWebSocketUpgrade(r); got != tt.want {
				t.Fatalf("isWebSocketUpgrade = %v, want %v", got, tt.want)
			}
		})
	}
}
