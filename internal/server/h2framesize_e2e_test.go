package server_test

import (
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// HTTP/2 frames are limited to the protocol's default 16 KiB (RFC 9113
// §4.2), not Go's 1 MiB: a HEADERS frame over it is a connection error
// FRAME_SIZE_ERROR; one within it is served.
func TestHTTP2FrameSizeLimit(t *testing.T) {
	w := startWatched(t)
	for _, tt := range []struct {
		name  string
		pad   int
		limit bool
	}{
		{"within 16 KiB", 8 << 10, false},
		{"over 16 KiB", 20 << 10, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialH2(t, w.addr, w.env.CA.Pool())
			// "~" is longer Huffman-coded than raw, so the header block
			// is as large as the value.
			c.request(1, ":method", "GET", ":scheme", "https", ":authority", w.addr, ":path", "/v1/accounts",
				"x-pad", strings.Repeat("~", tt.pad))
			res := c.await(1)
			if tt.limit {
				if !res.goaway || res.code != http2.ErrCodeFrameSize {
					t.Fatalf("got status %d, GOAWAY %v %v; want GOAWAY FRAME_SIZE_ERROR", res.status, res.goaway, res.code)
				}
				return
			}
			if res.status != 200 {
				t.Fatalf("got status %d, GOAWAY %v %v; want 200", res.status, res.goaway, res.code)
			}
		})
	}
}
