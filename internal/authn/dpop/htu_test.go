package dpop

import (
	"strings"
	"testing"
)

func TestNormalizeURI(t *testing.T) {
	tests := []struct {
		name, in  string
		dropQuery bool
		want      string // "" for an error
		err       string
	}{
		{name: "already normal", in: "https://api.example.com/v1/pay", want: "https://api.example.com/v1/pay"},
		{name: "scheme and host case", in: "HTTPS://API.Example.COM/v1/Pay", want: "https://api.example.com/v1/Pay"},
		{name: "default https port", in: "https://api.example.com:443/a", want: "https://api.example.com/a"},
		{name: "default http port", in: "http://api.example.com:80/a", want: "http://api.example.com/a"},
		{name: "https on port 80 keeps it", in: "https://api.example.com:80/a", want: "https://api.example.com:80/a"},
		{name: "empty port", in: "https://api.example.com:/a", want: "https://api.example.com/a"},
		{name: "port leading zeros", in: "https://api.example.com:0443/a", want: "https://api.example.com/a"},
		{name: "other port", in: "https://api.example.com:8443/a", want: "https://api.example.com:8443/a"},
		{name: "empty path", in: "https://api.example.com", want: "https://api.example.com/"},
		{name: "unreserved decoded", in: "https://api.example.com/%7Euser/%61%2D%5F%2E", want: "https://api.example.com/~user/a-_."},
		{name: "reserved kept, hex upper", in: "https://api.example.com/a%2fb%3fc", want: "https://api.example.com/a%2Fb%3Fc"},
		{name: "raw bytes encoded", in: "https://api.example.com/a b/é", want: "https://api.example.com/a%20b/%C3%A9"},
		{name: "raw and encoded space agree", in: "https://api.example.com/a%20b/%c3%a9", want: "https://api.example.com/a%20b/%C3%A9"},
		{name: "dot segments", in: "https://api.example.com/a/./b/../c", want: "https://api.example.com/a/c"},
		{name: "encoded dot segments", in: "https://api.example.com/a/%2E%2E/c", want: "https://api.example.com/c"},
		{name: "dot segments above root", in: "https://api.example.com/../../c", want: "https://api.example.com/c"},
		{name: "trailing dot dot", in: "https://api.example.com/a/b/..", want: "https://api.example.com/a/"},
		{name: "encoded slash is not a segment", in: "https://api.example.com/a%2F..%2Fb", want: "https://api.example.com/a%2F..%2Fb"},
		{name: "sub-delims kept", in: "https://api.example.com/a;b=c,d!$'()*+&:@", want: "https://api.example.com/a;b=c,d!$'()*+&:@"},
		{name: "host percent-encoded", in: "https://%61pi.example.com/", want: "https://api.example.com/"},
		{name: "IPv6", in: "https://[2001:DB8::1]:443/a", want: "https://[2001:db8::1]/a"},
		{name: "IPv4", in: "http://192.0.2.1:8080/a", want: "http://192.0.2.1:8080/a"},
		{name: "query dropped", in: "https://api.example.com/a?b=c#d", dropQuery: true, want: "https://api.example.com/a"},
		{name: "fragment dropped", in: "https://api.example.com#d", dropQuery: true, want: "https://api.example.com/"},
		{name: "query refused", in: "https://api.example.com/a?b=c", err: "query"},
		{name: "empty query refused", in: "https://api.example.com/a?", err: "query"},
		{name: "fragment refused", in: "https://api.example.com/a#", err: "fragment"},
		{name: "other scheme", in: "ftp://api.example.com/a", err: "scheme"},
		{name: "no scheme", in: "//api.example.com/a", err: "absolute"},
		{name: "relative", in: "/a", err: "absolute"},
		{name: "opaque", in: "https:api.example.com/a", err: "absolute"},
		{name: "userinfo", in: "https://user:pw@api.example.com/a", err: "userinfo"},
		{name: "empty host", in: "https:///a", err: "empty host"},
		{name: "empty host with port", in: "https://:443/a", err: "empty host"},
		{name: "bad port", in: "https://api.example.com:44x/a", err: "port"},
		{name: "port out of range", in: "https://api.example.com:65536/a", err: "range"},
		{name: "long port", in: "https://api.example.com:000443/a", err: "port"},
		{name: "space in host", in: "https://api example.com/a", err: "host"},
		{name: "backslash in host", in: `https://api.example.com\evil/a`, err: "host"},
		{name: "bad escape in path", in: "https://api.example.com/a%2", err: "percent"},
		{name: "bad escape hex", in: "https://api.example.com/a%zz", err: "percent"},
		{name: "bad IPv6", in: "https://[::g]/a", err: "IP literal"},
		{name: "IPv6 zone", in: "https://[fe80::1%25eth0]/a", err: "IP literal"},
		{name: "unterminated IPv6", in: "https://[::1/a", err: "IP literal"},
		{name: "too long", in: "https://a.example/" + strings.Repeat("a", maxURIBytes), err: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeURI(tt.in, tt.dropQuery)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("NormalizeURI(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeURI(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if again, err := NormalizeURI(got, tt.dropQuery); err != nil || again != got {
				t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
			}
		})
	}
}

// FuzzNormalizeURI: never panics, and a normal form is its own normal form.
func FuzzNormalizeURI(f *testing.F) {
	for _, s := range []string{
		"https://api.example.com/v1/pay", "HTTP://[::1]:80/a/../b%2f%7e?q#f", "https://x/%", "https://a:0/./..",
		"https://%41.example/a b", "https://u@h/",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, dropQuery bool) {
		got, err := NormalizeURI(s, dropQuery)
		if err != nil {
			return
		}
		again, err := NormalizeURI(got, false)
		if err != nil || again != got {
			t.Fatalf("%q -> %q -> %q, %v", s, got, again, err)
		}
	})
}
