package proxy

import (
	"net/http"
	"net/url"
	"strings"
)

// targetOrigin is a target's address as a Location would name it.
type targetOrigin struct {
	hostport string // lowercase host:port, the scheme's default port made explicit
	basePath string
}

func originsOf(targets []*Target) []targetOrigin {
	out := make([]targetOrigin, 0, len(targets))
	for _, t := range targets {
		out = append(out, targetOrigin{hostport: hostPort(t.URL.Scheme, t.URL.Host), basePath: t.basePath})
	}
	return out
}

func hostPort(scheme, host string) string {
	host = strings.ToLower(host)
	if u := (&url.URL{Host: host}); u.Port() == "" {
		switch strings.ToLower(scheme) {
		case "https":
			return host + ":443"
		default:
			return host + ":80"
		}
	}
	return host
}

// locationHeaders name a URI the client may follow or cache under.
var locationHeaders = []string{"Location", "Content-Location"}

// rewriteLocations turns a Location or Content-Location that points at one
// of the upstream's own targets (an upstream building absolute URLs from
// its own address) into a relative reference under the gateway: the
// client follows it to the host it already used, and the gateway never
// has to trust the request's Host to build one. A target URL outside the
// target's base path cannot be reached through the gateway and is dropped.
func rewriteLocations(h http.Header, origins []targetOrigin) {
	for _, name := range locationHeaders {
		vals := h[name]
		if len(vals) == 0 {
			continue
		}
		out := vals[:0:0]
		for _, v := range vals {
			if nv, keep := publicLocation(v, origins); keep {
				out = append(out, nv)
			}
		}
		if len(out) == 0 {
			delete(h, name)
		} else {
			h[name] = out
		}
	}
}

// publicLocation returns v rewritten, and false when it must be dropped.
func publicLocation(v string, origins []targetOrigin) (string, bool) {
	if !strings.Contains(v, "//") {
		return v, true // a relative reference: already under the gateway
	}
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil {
		return "", false // unparsable: never pass on what cannot be checked
	}
	if u.Host == "" {
		return v, true
	}
	scheme := u.Scheme
	if scheme == "" {
		scheme = "http"
	}
	hp := hostPort(scheme, u.Host)
	for _, o := range origins {
		if o.hostport != hp {
			continue
		}
		p := u.EscapedPath()
		if o.basePath != "" {
			switch {
			case p == o.basePath:
				p = "/"
			case strings.HasPrefix(p, o.basePath+"/"):
				p = p[len(o.basePath):]
			default:
				return "", false
			}
		}
		// A path that starts with "//" would read as another host.
		p = "/" + strings.TrimLeft(p, "/")
		if u.RawQuery != "" || u.ForceQuery {
			p += "?" + u.RawQuery
		}
		if u.Fragment != "" {
			p += "#" + u.EscapedFragment()
		}
		return p, true
	}
	return v, true
}
