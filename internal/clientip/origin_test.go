package clientip

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// The scheme and host the client used come from the trusted proxy's
// forwarding header of the configured kind, and only when they say one
// thing: several values, a list or a value that is not a plain scheme or
// authority is an error, never a guess.
func TestOrigin(t *testing.T) {
	tests := []struct {
		name         string
		header       Header
		h            http.Header
		scheme, host string
		ambiguous    bool
	}{
		{"nothing forwarded", XForwardedFor, http.Header{}, "", "", false},
		{"proto and host", XForwardedFor, http.Header{"X-Forwarded-Proto": {"HTTPS"}, "X-Forwarded-Host": {"api.example.com"}}, "https", "api.example.com", false},
		{"host with port", XForwardedFor, http.Header{"X-Forwarded-Host": {"api.example.com:8443"}}, "", "api.example.com:8443", false},
		{"IPv6 host", XForwardedFor, http.Header{"X-Forwarded-Host": {"[2001:db8::1]:443"}}, "", "[2001:db8::1]:443", false},
		{"two host lines", XForwardedFor, http.Header{"X-Forwarded-Host": {"a.example", "b.example"}}, "", "", true},
		{"host list", XForwardedFor, http.Header{"X-Forwarded-Host": {"a.example, b.example"}}, "", "", true},
		{"empty host", XForwardedFor, http.Header{"X-Forwarded-Host": {" "}}, "", "", true},
		{"host with a path", XForwardedFor, http.Header{"X-Forwarded-Host": {"a.example/evil"}}, "", "", true},
		{"host with userinfo", XForwardedFor, http.Header{"X-Forwarded-Host": {"user@a.example"}}, "", "", true},
		{"other scheme", XForwardedFor, http.Header{"X-Forwarded-Proto": {"wss"}}, "", "", true},
		{"Forwarded ignored in x-forwarded-for mode", XForwardedFor, http.Header{"Forwarded": {"proto=http;host=evil.example"}}, "", "", false},
		{"Forwarded, one element", Forwarded, http.Header{"Forwarded": {`for=198.51.100.7;proto=https;host="api.example.com"`}}, "https", "api.example.com", false},
		{"Forwarded, the client's element, not the inner proxy's", Forwarded,
			http.Header{"Forwarded": {"for=198.51.100.7;proto=https;host=api.example.com, for=10.0.0.5;proto=http;host=\"internal:8080\""}},
			"https", "api.example.com", false},
		{"Forwarded, the client's own element is not believed", Forwarded,
			http.Header{"Forwarded": {"for=10.9.9.9;host=evil.example, for=198.51.100.7;proto=https;host=api.example.com"}},
			"https", "api.example.com", false},
		{"Forwarded, malformed element", Forwarded, http.Header{"Forwarded": {`for=198.51.100.7;host="a`}}, "", "", true},
		{"Forwarded, repeated host", Forwarded, http.Header{"Forwarded": {"for=198.51.100.7;host=a;host=b"}}, "", "", true},
		{"X-Forwarded-Host ignored in forwarded mode", Forwarded, http.Header{"X-Forwarded-Host": {"evil.example"}}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scheme, host, err := New(testTrusted, tt.header).Origin(tt.h)
			if tt.ambiguous {
				if !errors.Is(err, ErrAmbiguousOrigin) {
					t.Fatalf("got %q %q %v, want ErrAmbiguousOrigin", scheme, host, err)
				}
				return
			}
			if err != nil || scheme != tt.scheme || host != tt.host {
				t.Fatalf("got %q %q %v, want %q %q", scheme, host, err, tt.scheme, tt.host)
			}
		})
	}
}

// FuzzOrigin: whatever a proxy forwards, Origin never panics and what it
// returns is a scheme of http or https and a host without a path, query,
// userinfo, space or second host.
func FuzzOrigin(f *testing.F) {
	for _, s := range []string{"https", "api.example.com:443", "for=198.51.100.7;proto=https;host=\"a.example\"",
		"for=10.0.0.1;host=x, for=1.2.3.4;host=y", "[::1]:8443", `host="a;b"`} {
		f.Add(s, s, false)
		f.Add(s, s, true)
	}
	f.Fuzz(func(t *testing.T, proto, host string, forwarded bool) {
		h := http.Header{"X-Forwarded-Proto": {proto}, "X-Forwarded-Host": {host}, "Forwarded": strings.Split(host, "\n")}
		mode := XForwardedFor
		if forwarded {
			mode = Forwarded
		}
		scheme, got, err := New(testTrusted, mode).Origin(h)
		if err != nil {
			return
		}
		if scheme != "" && scheme != "http" && scheme != "https" {
			t.Fatalf("scheme %q", scheme)
		}
		if strings.ContainsAny(got, "/?#@ ,;\"\\\t\r\n") {
			t.Fatalf("host %q", got)
		}
	})
}
