// Package clientip owns deciding who the client is: the peer address, or,
// when the peer is a configured trusted proxy, the nearest untrusted address
// in X-Forwarded-For. Logs, rate limits and forwarding headers all use it.
package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver derives client IPs. The zero value trusts no proxy.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver trusting the given prefixes.
func New(trusted []netip.Prefix) *Resolver { return &Resolver{trusted: trusted} }

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

// ClientIP returns the client's address for r and whether the peer was a
// trusted proxy (so its forwarding headers may be extended rather than
// replaced). X-Forwarded-For is read right to left and the first address
// that is not a trusted proxy is the client; a malformed entry stops the
// walk at the last trusted hop, so garbage cannot choose the client IP.
func (r *Resolver) ClientIP(req *http.Request) (client netip.Addr, viaTrusted bool) {
	return r.ClientIPFrom(Peer(req.RemoteAddr), req.Header)
}

// ClientIPFrom is ClientIP for a peer address already parsed.
func (r *Resolver) ClientIPFrom(peer netip.Addr, h http.Header) (client netip.Addr, viaTrusted bool) {
	if len(r.trusted) == 0 || !r.Trusted(peer) {
		return peer, false
	}
	client = peer
	xffs := h.Values("X-Forwarded-For")
	for i := len(xffs) - 1; i >= 0; i-- {
		parts := strings.Split(xffs[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client, true
			}
			client = a.Unmap()
			if !r.Trusted(client) {
				return client, true
			}
		}
	}
	return client, true
}
