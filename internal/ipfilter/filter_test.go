package ipfilter

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

func TestSetContains(t *testing.T) {
	s := NewSet([]netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("::ffff:198.51.100.0/120"), // IPv4-mapped: stored as 198.51.100.0/24
		netip.MustParsePrefix("172.16.5.9/12"),           // not masked in the config
	})
	cases := []struct {
		ip   string
		want bool
	}{
		{"10.1.2.3", true},
		{"11.0.0.1", false},
		{"192.0.2.7", true},
		{"192.0.2.8", false},
		{"::ffff:10.9.9.9", true}, // mapped client addresses match IPv4 entries
		{"2001:db8:ffff::1", true},
		{"2001:db9::1", false},
		{"198.51.100.200", true},
		{"172.31.255.255", true},
		{"172.32.0.0", false},
		{"fe80::1%eth0", false},
	}
	for _, tc := range cases {
		t.Run(tc.ip, func(t *testing.T) {
			if got := s.Contains(netip.MustParseAddr(tc.ip)); got != tc.want {
				t.Fatalf("Contains(%s) = %v, want %v", tc.ip, got, tc.want)
			}
		})
	}
	if s.Contains(netip.Addr{}) {
		t.Fatal("an invalid address matched")
	}
}

func TestFilterRules(t *testing.T) {
	cases := []struct {
		name        string
		allow, deny []string
		ip          string
		want        bool
	}{
		{"deny-list only: listed", nil, []string{"203.0.113.0/24"}, "203.0.113.5", false},
		{"deny-list only: other", nil, []string{"203.0.113.0/24"}, "192.0.2.1", true},
		{"allow-list: inside", []string{"10.0.0.0/8"}, nil, "10.0.0.1", true},
		{"allow-list: outside", []string{"10.0.0.0/8"}, nil, "192.0.2.1", false},
		{"deny beats allow", []string{"10.0.0.0/8"}, []string{"10.6.6.6"}, "10.6.6.6", false},
		{"invalid IP with an allow-list fails closed", []string{"10.0.0.0/8"}, nil, "", false},
		{"invalid IP with a deny-list only", nil, []string{"10.0.0.0/8"}, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := New(prefixes(t, tc.allow), prefixes(t, tc.deny))
			var ip netip.Addr
			if tc.ip != "" {
				ip = netip.MustParseAddr(tc.ip)
			}
			if got := f.Allowed(ip); got != tc.want {
				t.Fatalf("Allowed(%q) = %v, want %v", tc.ip, got, tc.want)
			}
		})
	}
}

func TestEmptyListsAdmitEverything(t *testing.T) {
	if f := New(nil, nil); f != nil || f.Check(netip.Addr{}) != nil {
		t.Fatal("empty lists must give a nil filter that admits everything")
	}
}

// prefixes parses CIDRs as config.Parse does.
func prefixes(t *testing.T, list []string) []config.Prefix {
	t.Helper()
	var out []config.Prefix
	for _, s := range list {
		p, err := config.ParsePrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, config.Prefix(p))
	}
	return out
}

func TestStage(t *testing.T) {
	f := New(nil, prefixes(t, []string{"127.0.0.1"}))
	h := f.Handle(pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		_, _ = io.WriteString(w, "ok")
		return nil
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := &reqinfo.Info{ID: "rid", ClientIP: netip.MustParseAddr("127.0.0.1")}
		r = r.WithContext(reqinfo.With(r.Context(), info))
		if err := h.ServeHTTP(w, r); err != nil {
			problem.Write(w, r, err)
		}
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	want := `{"type":"https://portcullis.dev/problems/ip-denied","title":"Forbidden","status":403,"detail":"Requests from this address are not allowed.","request_id":"rid"}` + "\n"
	if resp.StatusCode != 403 || string(b) != want || resp.Header.Get("Content-Type") != problem.ContentType {
		t.Fatalf("%d %q %q", resp.StatusCode, b, resp.Header.Get("Content-Type"))
	}
}

// FuzzSetContains compares the prefix-length lookup with a plain scan of
// every prefix, for arbitrary addresses and prefixes.
func FuzzSetContains(f *testing.F) {
	f.Add([]byte{10, 0, 0, 0}, uint8(8), []byte{10, 1, 2, 3})
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(32), []byte{0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 0}, uint8(120), []byte{198, 51, 100, 7})
	f.Fuzz(func(t *testing.T, pfx []byte, bits uint8, addr []byte) {
		pa, ok := netip.AddrFromSlice(pfx)
		if !ok {
			return
		}
		p, err := pa.Prefix(int(bits) % (pa.BitLen() + 1))
		if err != nil {
			return
		}
		a, ok := netip.AddrFromSlice(addr)
		if !ok {
			return
		}
		want := naive(p, a)
		if got := NewSet([]netip.Prefix{p}).Contains(a); got != want {
			t.Fatalf("Contains(%v in %v) = %v, want %v", a, p, got, want)
		}
	})
}

// naive is the reference: unmapped address against the prefix, with an
// IPv4-mapped prefix of 96 bits or more treated as IPv4.
func naive(p netip.Prefix, a netip.Addr) bool {
	if pa := p.Addr(); pa.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(pa.Unmap(), p.Bits()-96)
	}
	return p.Masked().Contains(a.Unmap())
}
