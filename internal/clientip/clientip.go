// Package clientip owns deciding who the client is: the peer address, or,
// when the peer is a configured trusted proxy, the nearest untrusted address
// in the forwarding header the configuration names (X-Forwarded-For, or
// RFC 7239 Forwarded). Logs, rate limits and forwarding headers all use it.
package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Header is the forwarding header a Resolver reads from trusted proxies.
// Exactly one is read: a proxy that sets one typically passes the other
// through from the client unchanged, so falling back to it would let the
// client choose its address.
type Header uint8

const (
	// XForwardedFor reads X-Forwarded-For (the default).
	XForwardedFor Header = iota
	// Forwarded reads the for= parameters of RFC 7239 Forwarded.
	Forwarded
)

// Resolver derives client IPs. The zero value trusts no proxy.
type Resolver struct {
	trusted []netip.Prefix
	header  Header
}

// New returns a Resolver trusting the given prefixes and reading header
// from them.
func New(trusted []netip.Prefix, header Header) *Resolver {
	return &Resolver{trusted: trusted, header: header}
}

// Trusted reports whether ip is a trusted proxy.
func (r *Resolver) Trusted(ip netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Peer parses the remote address of a connection ("ip:port").
func Peer(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// ClientIPFrom returns the client's address for a request from peer with
// headers h, and whether the peer was a trusted proxy (so its forwarding
// headers may be extended rather than replaced). The forwarding header is
// read right to left and the first address that is not a trusted proxy is
// the client; a malformed entry (or, in Forwarded, a node that is not an
// address: "unknown", "_hidden", an element without for=) stops the walk
// at the last trusted hop, so garbage cannot choose the client IP.
func (r *Resolver) ClientIPFrom(peer netip.Addr, h http.Header) (client netip.Addr, viaTrusted bool) {
	if len(r.trusted) == 0 || !r.Trusted(peer) {
		return peer, false
	}
	if r.header == Forwarded {
		return r.walkForwarded(peer, h["Forwarded"]), true
	}
	return r.walkXFF(peer, h.Values("X-Forwarded-For")), true
}

func (r *Resolver) walkXFF(peer netip.Addr, xffs []string) netip.Addr {
	client := peer
	for i := len(xffs) - 1; i >= 0; i-- {
		parts := strings.Split(xffs[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client
			}
			client = a.Unmap()
			if !r.Trusted(client) {
				return client
			}
		}
	}
	return client
}

// walkForwarded walks the elements of the Forwarded lines right to left.
// Elements are split at every comma, quotes or not: no valid for, by, host
// or proto value contains one, and it keeps an unbalanced quote sent by the
// client from swallowing the elements proxies appended after it.
func (r *Resolver) walkForwarded(peer netip.Addr, lines []string) netip.Addr {
	client := peer
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			elem := rest
			comma := strings.LastIndexByte(rest, ',')
			if comma >= 0 {
				elem, rest = rest[comma+1:], rest[:comma]
			}
			a, kind := forwardedFor(elem)
			switch kind {
			case nodeStop:
				return client
			case nodeAddr:
				client = a
				if !r.Trusted(client) {
					return client
				}
			}
			if comma < 0 {
				break
			}
		}
	}
	return client
}

// PriorChain returns the chain of client addresses a trusted peer passed
// on, as an X-Forwarded-For value to extend: the X-Forwarded-For lines
// joined, or, when the Resolver reads Forwarded, its for= nodes left to
// right ("unknown" for a node that is not an address), so an upstream
// walking X-Forwarded-For finds the client this Resolver found. "" when
// there is none.
func (r *Resolver) PriorChain(h http.Header) string {
	if r.header != Forwarded {
		return strings.Join(h.Values("X-Forwarded-For"), ", ")
	}
	var b []byte
	for _, line := range h["Forwarded"] {
		for rest := line; ; {
			elem, after, more := strings.Cut(rest, ",")
			rest = after
			a, kind := forwardedFor(elem)
			if kind != nodeEmpty {
				if len(b) > 0 {
					b = append(b, ", "...)
				}
				if kind == nodeAddr {
					b = a.AppendTo(b)
				} else {
					b = append(b, "unknown"...)
				}
			}
			if !more {
				break
			}
		}
	}
	return string(b)
}

type nodeKind uint8

const (
	nodeEmpty nodeKind = iota // an empty list element: skipped (RFC 9110 §5.6.1)
	nodeAddr                  // for= is an IP address
	nodeStop                  // malformed, no for=, or for= is unknown or obfuscated
)

// forwardedFor returns the address in the for= parameter of one
// forwarded-element (RFC 7239 §4). Parameter names are case-insensitive;
// values are tokens or quoted strings; empty pairs are skipped; a repeated
// for= is malformed.
func forwardedFor(elem string) (netip.Addr, nodeKind) {
	elem = trimOWS(elem)
	if elem == "" {
		return netip.Addr{}, nodeEmpty
	}
	var forVal string
	seen := false
	for rest := elem; ; {
		pair, after, more := strings.Cut(rest, ";")
		rest = after
		if pair = trimOWS(pair); pair != "" {
			name, val, ok := strings.Cut(pair, "=")
			if !ok || !isToken(name) {
				return netip.Addr{}, nodeStop
			}
			if val, ok = paramValue(val); !ok {
				return netip.Addr{}, nodeStop
			}
			if strings.EqualFold(name, "for") {
				if seen {
					return netip.Addr{}, nodeStop
				}
				forVal, seen = val, true
			}
		}
		if !more {
			break
		}
	}
	if !seen {
		return netip.Addr{}, nodeStop
	}
	a, ok := parseNode(forVal)
	if !ok {
		return netip.Addr{}, nodeStop
	}
	return a, nodeAddr
}

// paramValue returns a token, or a quoted string's content. A quoted
// string with an escape is refused: no node needs one.
func paramValue(v string) (string, bool) {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		for i := 0; i < len(v); i++ {
			if c := v[i]; c == '"' || c == '\\' || c < ' ' && c != '\t' || c == 0x7f {
				return "", false
			}
		}
		return v, true
	}
	return v, isToken(v)
}

// parseNode parses an RFC 7239 §6 node: an IPv4 address or a bracketed
// IPv6 address, each with an optional port (digits or an obfuscated
// "_port"). "unknown" and obfuscated "_names" are not addresses.
func parseNode(n string) (netip.Addr, bool) {
	host, port := n, ""
	if strings.HasPrefix(n, "[") {
		end := strings.IndexByte(n, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host, port = n[1:end], n[end+1:]
		if port != "" && (port[0] != ':' || !validPort(port[1:])) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	if i := strings.IndexByte(n, ':'); i >= 0 {
		host, port = n[:i], n[i+1:]
		if !validPort(port) {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// validPort is RFC 7239's node-port: 1*5DIGIT, or "_" and 1*(ALPHA /
// DIGIT / "." / "_" / "-").
func validPort(p string) bool {
	if p == "" {
		return false
	}
	if p[0] == '_' {
		if len(p) == 1 {
			return false
		}
		for i := 1; i < len(p); i++ {
			c := p[i]
			if !(isAlnum(c) || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return true
	}
	if len(p) > 5 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) {
			continue
		}
		switch c {
		case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
			continue
		}
		return false
	}
	return true
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
