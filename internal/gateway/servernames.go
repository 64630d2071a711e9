package gateway

import (
	"net"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/problem"
)

// serverNames is a listener's server_names, compiled once: the hosts it
// is meant for. A request for any other host is one the listener would
// otherwise route on host-less routes and forward as X-Forwarded-Host.
type serverNames struct {
	exact     map[string]bool
	wildcards []string // ".example.com" for "*.example.com"
}

// newServerNames compiles a validated server_names list; nil when empty
// (any host is accepted).
func newServerNames(names []string) *serverNames {
	if len(names) == 0 {
		return nil
	}
	s := &serverNames{exact: map[string]bool{}}
	for _, n := range names {
		if strings.HasPrefix(n, "*.") {
			s.wildcards = append(s.wildcards, n[1:])
			continue
		}
		if ip := net.ParseIP(n); ip != nil {
			n = ip.String()
		}
		s.exact[n] = true
	}
	return s
}

// check returns a 421 problem unless r's Host is one of the names and, when
// the client sent a TLS server name (SNI), the same host: a connection set
// up for one name (and its certificate) is never used for another.
func (s *serverNames) check(r *http.Request) error {
	host := requestHost(r.Host)
	if !s.match(host) || r.TLS != nil && r.TLS.ServerName != "" && requestHost(r.TLS.ServerName) != host {
		return problem.New(http.StatusMisdirectedRequest, "misdirected-request", "Misdirected Request",
			"This listener does not serve the requested host.")
	}
	return nil
}

func (s *serverNames) match(host string) bool {
	if host == "" {
		return false
	}
	if s.exact[host] {
		return true
	}
	for _, w := range s.wildcards {
		if len(host) > len(w) && strings.HasSuffix(host, w) {
			return true
		}
	}
	return false
}

// requestHost is h without port, brackets or a final dot, lowercase, with
// IP addresses in their canonical form.
func requestHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(h, "]"), "["), ".")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return strings.ToLower(h)
}
