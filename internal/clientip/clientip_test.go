package clientip

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

var testTrusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("2001:db8:ffff::/48")}

func TestClientIP(t *testing.T) {
	r := New(testTrusted, XForwardedFor)
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
			req.Header.Add("Forwarded", "for=192.0.2.99") // not the configured header: ignored
			got, trusted := r.ClientIPFrom(Peer(req.RemoteAddr), req.Header)
			if got.String() != tt.want || trusted != tt.trusted {
				t.Fatalf("got %s, %v; want %s, %v", got, trusted, tt.want, tt.trusted)
			}
		})
	}
}

func TestClientIPForwarded(t *testing.T) {
	r := New(testTrusted, Forwarded)
	tests := []struct {
		name, peer string
		fwd        []string // Forwarded lines
		want       string
		trusted    bool
		chain      string // PriorChain
	}{
		{name: "untrusted peer ignores forwarded", peer: "203.0.113.5:4000", fwd: []string{"for=1.2.3.4"}, want: "203.0.113.5", chain: "1.2.3.4"},
		{name: "no header", peer: "10.0.0.1:1", want: "10.0.0.1", trusted: true},
		{name: "one hop", peer: "10.0.0.1:1", fwd: []string{"for=198.51.100.7"}, want: "198.51.100.7", trusted: true, chain: "198.51.100.7"},
		{name: "rfc 7239 example", peer: "10.0.0.1:1", fwd: []string{`for=192.0.2.43, for="[2001:db8:cafe::17]"`}, want: "2001:db8:cafe::17", trusted: true,
			chain: "192.0.2.43, 2001:db8:cafe::17"},
		{name: "ipv6 with port", peer: "10.0.0.1:1", fwd: []string{`for="[2001:db8::1]:4711"`}, want: "2001:db8::1", trusted: true, chain: "2001:db8::1"},
		{name: "ipv4 with port, quoted", peer: "10.0.0.1:1", fwd: []string{`for="192.0.2.60:8080"`}, want: "192.0.2.60", trusted: true, chain: "192.0.2.60"},
		{name: "obfuscated port", peer: "10.0.0.1:1", fwd: []string{`for="192.0.2.60:_abc-1"`}, want: "192.0.2.60", trusted: true, chain: "192.0.2.60"},
		{name: "other params and case-insensitive names", peer: "10.0.0.1:1", fwd: []string{`proto=https;FOR=192.0.2.60;by=203.0.113.43;host="api.example.com"`}, want: "192.0.2.60", trusted: true, chain: "192.0.2.60"},
		{name: "whitespace and empty elements and pairs", peer: "10.0.0.1:1", fwd: []string{" , for=192.0.2.60 ;; proto=http ,, "}, want: "192.0.2.60", trusted: true, chain: "192.0.2.60"},
		{name: "rightmost untrusted wins", peer: "10.0.0.1:1", fwd: []string{"for=6.6.6.6, for=198.51.100.7, for=10.0.0.9"}, want: "198.51.100.7", trusted: true,
			chain: "6.6.6.6, 198.51.100.7, 10.0.0.9"},
		{name: "trusted ipv6 hops skipped", peer: "[::1]:1", fwd: []string{`for=198.51.100.7, for="[2001:db8:ffff::2]:443"`}, want: "198.51.100.7", trusted: true,
			chain: "198.51.100.7, 2001:db8:ffff::2"},
		{name: "several header lines", peer: "10.0.0.1:1", fwd: []string{"for=6.6.6.6", "for=198.51.100.7", "for=10.0.0.2"}, want: "198.51.100.7", trusted: true,
			chain: "6.6.6.6, 198.51.100.7, 10.0.0.2"},
		{name: "mapped v4 in brackets", peer: "10.0.0.1:1", fwd: []string{`for="[::ffff:198.51.100.7]"`}, want: "198.51.100.7", trusted: true, chain: "198.51.100.7"},
		{name: "all trusted", peer: "10.0.0.1:1", fwd: []string{"for=10.0.0.3"}, want: "10.0.0.3", trusted: true, chain: "10.0.0.3"},
		{name: "unknown stops the walk", peer: "10.0.0.1:1", fwd: []string{"for=6.6.6.6, for=unknown, for=10.0.0.2"}, want: "10.0.0.2", trusted: true,
			chain: "6.6.6.6, unknown, 10.0.0.2"},
		{name: "UNKNOWN stops the walk", peer: "10.0.0.1:1", fwd: []string{"for=6.6.6.6, for=UNKNOWN"}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		{name: "obfuscated node stops the walk", peer: "10.0.0.1:1", fwd: []string{`for=6.6.6.6, for="_hidden:_port"`}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		{name: "obfuscated token stops the walk", peer: "10.0.0.1:1", fwd: []string{"for=6.6.6.6, for=_hidden, for=10.0.0.2"}, want: "10.0.0.2", trusted: true,
			chain: "6.6.6.6, unknown, 10.0.0.2"},
		{name: "element without for stops the walk", peer: "10.0.0.1:1", fwd: []string{"for=6.6.6.6, proto=https"}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		{name: "repeated for is malformed", peer: "10.0.0.1:1", fwd: []string{"for=6.6.6.6, for=198.51.100.7;for=10.0.0.5"}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		{name: "unquoted ipv6 is malformed", peer: "10.0.0.1:1", fwd: []string{"for=6.6.6.6, for=[2001:db8::1]"}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		{name: "unquoted port is malformed", peer: "10.0.0.1:1", fwd: []string{"for=6.6.6.6, for=192.0.2.1:80"}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		{name: "ipv6 without brackets is malformed", peer: "10.0.0.1:1", fwd: []string{`for=6.6.6.6, for="2001:db8::1"`}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		{name: "ipv4 in brackets is malformed", peer: "10.0.0.1:1", fwd: []string{`for=6.6.6.6, for="[192.0.2.1]"`}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		{name: "zone is malformed", peer: "10.0.0.1:1", fwd: []string{`for=6.6.6.6, for="[fe80::1%eth0]"`}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		{name: "bad port is malformed", peer: "10.0.0.1:1", fwd: []string{`for=6.6.6.6, for="192.0.2.1:123456"`}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		{name: "escaped quoted string is malformed", peer: "10.0.0.1:1", fwd: []string{`for=6.6.6.6, for="192.0.2.\1"`}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		{name: "garbage pair is malformed", peer: "10.0.0.1:1", fwd: []string{"for=6.6.6.6, for=198.51.100.7;garbage"}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		{name: "empty for is malformed", peer: "10.0.0.1:1", fwd: []string{`for=6.6.6.6, for=""`}, want: "10.0.0.1", trusted: true, chain: "6.6.6.6, unknown"},
		// What a client sends first is left of what the proxies append:
		// an unbalanced quote cannot swallow the proxy's element.
		{name: "unbalanced quote from the client", peer: "10.0.0.1:1", fwd: []string{`for="6.6.6.6, for=198.51.100.7`}, want: "198.51.100.7", trusted: true,
			chain: "unknown, 198.51.100.7"},
		{name: "quoted comma from the client", peer: "10.0.0.1:1", fwd: []string{`for=6.6.6.6;ext="a, for=1.1.1.1", for=198.51.100.7`}, want: "198.51.100.7", trusted: true,
			chain: "unknown, unknown, 198.51.100.7"},
		{name: "unbalanced quote on its own line", peer: "10.0.0.1:1", fwd: []string{`for="6.6.6.6`, "for=198.51.100.7"}, want: "198.51.100.7", trusted: true,
			chain: "unknown, 198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &http.Request{RemoteAddr: tt.peer, Header: http.Header{}}
			for _, v := range tt.fwd {
				req.Header.Add("Forwarded", v)
			}
			req.Header.Add("X-Forwarded-For", "192.0.2.99") // not the configured header: ignored
			got, trusted := r.ClientIPFrom(Peer(req.RemoteAddr), req.Header)
			if got.String() != tt.want || trusted != tt.trusted {
				t.Fatalf("got %s, %v; want %s, %v", got, trusted, tt.want, tt.trusted)
			}
			if chain := r.PriorChain(req.Header); chain != tt.chain {
				t.Fatalf("PriorChain = %q, want %q", chain, tt.chain)
			}
		})
	}
}

func TestPriorChainXForwardedFor(t *testing.T) {
	r := New(testTrusted, XForwardedFor)
	h := http.Header{"X-Forwarded-For": {"203.0.113.9, 10.9.9.9", "10.0.0.2"}, "Forwarded": {"for=192.0.2.1"}}
	if got := r.PriorChain(h); got != "203.0.113.9, 10.9.9.9, 10.0.0.2" {
		t.Fatalf("PriorChain = %q", got)
	}
}

func TestForwardedDoesNotAllocate(t *testing.T) {
	r := New(testTrusted, Forwarded)
	peer := netip.MustParseAddr("10.0.0.1")
	h := http.Header{"Forwarded": {`for=192.0.2.43;proto=https, for="[2001:db8:ffff::17]:4711";by=_lb`, `For="10.1.2.3:_p"`}}
	var got netip.Addr
	allocs := testing.AllocsPerRun(100, func() { got, _ = r.ClientIPFrom(peer, h) })
	if got.String() != "192.0.2.43" || allocs != 0 {
		t.Fatalf("got %s with %v allocations per request, want 192.0.2.43 with 0", got, allocs)
	}
}

// FuzzForwarded checks, for any Forwarded lines a client may send (one per
// line of the input):
//   - an element a trusted proxy appends, on the same line or its own, is
//     what decides the client, whatever the client sent before it;
//   - the X-Forwarded-For chain passed upstream (PriorChain) leads an
//     upstream walking it with the same trusted proxies to the same client.
func FuzzForwarded(f *testing.F) {
	for _, s := range []string{
		"for=192.0.2.43",
		`for=192.0.2.43, for="[2001:db8:cafe::17]:4711"`,
		"for=unknown;proto=https, for=_hidden",
		`for="6.6.6.6, for=198.51.100.7`,
		"FOR=10.0.0.2;by=10.0.0.1\nfor=203.0.113.9",
		`;;, ,for="[::ffff:10.1.1.1]";host="a,b"`,
		`for="\"`,
	} {
		f.Add(s, []byte{198, 51, 100, 7}, uint16(4711), false)
		f.Add(s, []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint16(0), true)
	}
	r := New(testTrusted, Forwarded)
	xff := New(testTrusted, XForwardedFor)
	peer := netip.MustParseAddr("10.0.0.1")
	f.Fuzz(func(t *testing.T, sent string, proxyAddr []byte, port uint16, ownLine bool) {
		lines := strings.Split(sent, "\n")
		h := http.Header{"Forwarded": lines}
		got, _ := r.ClientIPFrom(peer, h)
		if !got.IsValid() || got.Is4In6() {
			t.Fatalf("client %v from %q", got, lines)
		}
		if chain := r.PriorChain(h); chain != "" {
			want, _ := xff.ClientIPFrom(peer, http.Header{"X-Forwarded-For": {chain}})
			if want != got {
				t.Fatalf("Forwarded %q gives %v, its X-Forwarded-For chain %q gives %v", lines, got, chain, want)
			}
		}

		// A trusted proxy appends the address it saw.
		a, ok := netip.AddrFromSlice(proxyAddr)
		if !ok {
			return
		}
		a = a.Unmap()
		if r.Trusted(a) {
			return
		}
		node := a.String()
		if a.Is6() {
			node = "[" + node + "]"
		}
		if port != 0 {
			node += ":" + strconv.Itoa(int(port))
		}
		elem := `for="` + node + `";proto=https`
		appended := append([]string(nil), lines...)
		if ownLine {
			appended = append(appended, elem)
		} else {
			appended[len(appended)-1] += ", " + elem
		}
		h = http.Header{"Forwarded": appended}
		if got, _ := r.ClientIPFrom(peer, h); got != a {
			t.Fatalf("client sent %q, proxy appended %q: client %v, want %v", lines, elem, got, a)
		}
		if chain := r.PriorChain(h); !strings.HasSuffix(chain, a.String()) {
			t.Fatalf("PriorChain %q does not end with the proxy's %v", chain, a)
		}
	})
}
