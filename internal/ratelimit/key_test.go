package ratelimit

import (
	"bytes"
	"net/http"
	"net/netip"
	"testing"

	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

func TestKeyParts(t *testing.T) {
	apiKey := &principal.Principal{ConsumerID: "c1", Method: principal.MethodAPIKey, CredentialID: "key_1",
		Claims: map[string]any{"tenant": "acme", "n": float64(42), "ok": true, "obj": map[string]any{"a": 1}}}
	jwt := &principal.Principal{ConsumerID: "c1", Method: principal.MethodJWT, CredentialID: "jti-9"}
	v4 := netip.MustParseAddr("192.0.2.7")
	cases := []struct {
		name    string
		parts   []string
		info    reqinfo.Info
		header  http.Header
		wantOK  bool
		wantKey []byte
	}{
		{"consumer", []string{"consumer"}, reqinfo.Info{Principal: apiKey}, nil, true, []byte("\x01\x02c1")},
		{"no principal", []string{"consumer"}, reqinfo.Info{}, nil, false, nil},
		{"api key", []string{"api_key"}, reqinfo.Info{Principal: apiKey}, nil, true, []byte("\x02\x05key_1")},
		{"api key part needs an API key caller", []string{"api_key"}, reqinfo.Info{Principal: jwt}, nil, false, nil},
		{"client ip", []string{"client_ip"}, reqinfo.Info{ClientIP: v4}, nil, true, []byte("\x03\x09192.0.2.7")},
		{"no client ip", []string{"client_ip"}, reqinfo.Info{}, nil, false, nil},
		{"route", []string{"route"}, reqinfo.Info{Route: "pay"}, nil, true, []byte("\x04\x03pay")},
		{"header (first value)", []string{"header:x-tenant"}, reqinfo.Info{}, http.Header{"X-Tenant": {"t1", "t2"}}, true, []byte("\x05\x02t1")},
		{"empty header", []string{"header:X-Tenant"}, reqinfo.Info{}, http.Header{"X-Tenant": {""}}, false, nil},
		{"string claim", []string{"claim:tenant"}, reqinfo.Info{Principal: apiKey}, nil, true, []byte("\x06\x04acme")},
		{"number claim", []string{"claim:n"}, reqinfo.Info{Principal: apiKey}, nil, true, []byte("\x06\x0242")},
		{"bool claim", []string{"claim:ok"}, reqinfo.Info{Principal: apiKey}, nil, true, []byte("\x06\x04true")},
		{"object claim counts as missing", []string{"claim:obj"}, reqinfo.Info{Principal: apiKey}, nil, false, nil},
		{"composite", []string{"consumer", "route"}, reqinfo.Info{Principal: apiKey, Route: "pay"}, nil, true, []byte("\x01\x02c1\x04\x03pay")},
		{"composite with a missing part", []string{"consumer", "header:X-Tenant"}, reqinfo.Info{Principal: apiKey}, http.Header{}, false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{Header: tc.header}
			if r.Header == nil {
				r.Header = http.Header{}
			}
			got, ok := parseKey(tc.parts).appendKey(nil, r, &tc.info)
			if ok != tc.wantOK || tc.wantOK && !bytes.Equal(got, tc.wantKey) {
				t.Fatalf("got %q, %v; want %q, %v", got, ok, tc.wantKey, tc.wantOK)
			}
		})
	}
}

func TestIPKey(t *testing.T) {
	cases := []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			if got := IPKey(netip.MustParseAddr(tc.in)); got != tc.want {
				t.Fatalf("IPKey(%s) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
	if got := IPKey(netip.Addr{}); got != "unknown" {
		t.Fatalf("invalid address: %q", got)
	}
}

// FuzzCompositeKey checks that the composite key encoding is injective:
// two different (header, claim) value pairs never produce the same key,
// however the values embed lengths, kinds or separators.
func FuzzCompositeKey(f *testing.F) {
	f.Add("a", "bc", "ab", "c")
	f.Add("\x05\x01x", "", "", "\x05\x01x")
	f.Add("tenant", "\x06\x01z", "tenant\x06\x01z", "")
	spec := parseKey([]string{"header:X-A", "claim:b"})
	f.Fuzz(func(t *testing.T, h1, c1, h2, c2 string) {
		key := func(h, c string) ([]byte, bool) {
			r := &http.Request{Header: http.Header{"X-A": {h}}}
			info := &reqinfo.Info{Principal: &principal.Principal{Claims: map[string]any{"b": c}}}
			return spec.appendKey(nil, r, info)
		}
		k1, ok1 := key(h1, c1)
		k2, ok2 := key(h2, c2)
		if ok1 && ok2 && (h1 != h2 || c1 != c2) && bytes.Equal(k1, k2) {
			t.Fatalf("(%q,%q) and (%q,%q) share key %q", h1, c1, h2, c2, k1)
		}
		if ok1 != (h1 != "" && c1 != "") {
			t.Fatalf("ok=%v for (%q,%q)", ok1, h1, c1)
		}
	})
}
