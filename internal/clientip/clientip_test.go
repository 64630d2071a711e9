package clientip

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	r := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	tests := []struct {
		name, peer string
		xff        []string
		want       string
		trusted    bool
	}{
		{"untrusted peer ignores xff", "203.0.113.5:4000", []string{"1.2.3.4"}, "203.0.113.5", false},
		{"trusted peer, one hop", "10.0.0.1:4000", []string{"198.51.100.7"}, "198.51.100.7", true},
		{"rightmost untrusted wins", "10.0.0.1:4000", []string{"6.6.6.6, 198.51.100.7, 10.0.0.9"}, "198.51.100.7", true},
		{"several headers", "10.0.0.1:4000", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7", true},
		{"garbage stops the walk", "10.0.0.1:4000", []string{"198.51.100.7, not-an-ip, 10.0.0.2"}, "10.0.0.2", true},
		{"all trusted", "10.0.0.1:4000", []string{"10.0.0.3"}, "10.0.0.3", true},
		{"no xff", "10.0.0.1:4000", nil, "10.0.0.1", true},
		{"ipv6 peer", "[::1]:4000", []string{"2001:db8::1"}, "2001:db8::1", true},
		{"mapped v4", "[::ffff:203.0.113.5]:1", nil, "203.0.113.5", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &http.Request{RemoteAddr: tt.peer, Header: http.Header{}}
			for _, v := range tt.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			got, trusted := r.ClientIP(req)
			if got.String() != tt.want || trusted != tt.trusted {
				t.Fatalf("got %s, %v; want %s, %v", got, trusted, tt.want, tt.trusted)
			}
		})
	}
}
