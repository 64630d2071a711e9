package config

import (
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/router"
)

var (
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	methodRe = regexp.MustCompile(`^[A-Z][A-Z-]{0,19}$`)
	hostRe   = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
)

// Validate checks the whole configuration (after ApplyDefaults) and returns
// an Errors with every problem, or nil.
func (c *Config) Validate() error {
	var errs Errors
	c.validateListeners(&errs)
	c.validateOps(&errs)
	if d := c.Shutdown.PreStopDelay.D(); d < 0 || d > MaxPreStopDelay {
		errs.Add("shutdown.pre_stop_delay", "must be between 0 and 5m")
	}
	if c.Shutdown.DrainTimeout.D() < 0 {
		errs.Add("shutdown.drain_timeout", "must not be negative")
	}
	switch c.ClientIPHeader {
	case "x-forwarded-for", "forwarded":
	default:
		errs.Add("client_ip_header", "must be x-forwarded-for or forwarded; got %q", c.ClientIPHeader)
	}
	c.validateUpstreams(&errs)
	c.validateRoutes(&errs)
	c.validateValidation(&errs)
	c.validateAuth(&errs)
	c.validateSenderConstraints(&errs)
	c.validateProfiles(&errs)
	c.validateKeys(&errs)
	c.validateRateLimits(&errs)
	c.Tracing.validate(&errs)
	c.validateHeaders(&errs)
	c.validateWAFLog(&errs)
	c.validateSecurity(&errs)
	c.validateIntegrity(&errs)
	switch c.Logging.Level {
	case "debug", "info", "warn", "error":
	default:
		errs.Add("logging.level", "must be one of debug, info, warn, error; got %q", c.Logging.Level)
	}
	if c.Logging.Access.Output == "" {
		errs.Add("logging.access.output", "must be stdout, stderr or a file path")
	}
	atLeast(&errs, "logging.access.flush_interval", c.Logging.Access.FlushInterval, time.Millisecond)
	atLeast(&errs, "reload.interval", c.Reload.Interval, 100*time.Millisecond)
	if c.Logging.Access.BufferSize < 4<<10 || c.Logging.Access.BufferSize > 64<<20 {
		errs.Add("logging.access.buffer_size", "must be between 4KiB and 64MiB")
	}
	for i, h := range c.Logging.Access.Headers {
		validHeaderName(&errs, Index("logging.access.headers", i), h)
	}
	for i, h := range c.Logging.Access.RedactHeaders {
		validHeaderName(&errs, Index("logging.access.redact_headers", i), h)
	}
	return errs.Err()
}

// atLeast refuses a duration below min (an explicit 0 included: it is
// never replaced by a default).
func atLeast(errs *Errors, path string, d Duration, min time.Duration) {
	if d.D() < min {
		errs.Add(path, "must be at least %s", min)
	}
}

// ParsePrefix parses a CIDR or a single IP address (as a /32 or /128).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errInvalid("CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errInvalid("IP address or CIDR", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

type invalidErr struct{ what, val string }

func (e invalidErr) Error() string { return "invalid " + e.what + " \"" + e.val + "\"" }

func errInvalid(what, val string) error { return invalidErr{what, val} }

func validHeaderName(errs *Errors, path, h string) {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			errs.Add(path, "invalid header name %q", h)
			return
		}
	}
	if h == "" {
		errs.Add(path, "must not be empty")
	}
}

func validAddress(errs *Errors, path, addr string) {
	if addr == "" {
		errs.Add(path, "is required (host:port)")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		errs.Add(path, "must be host:port, got %q", addr)
		return
	}
	if host != "" && net.ParseIP(host) == nil && !hostRe.MatchString(strings.ToLower(host)) {
		errs.Add(path, "invalid host %q", host)
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		errs.Add(path, "invalid port %q", port)
	}
}

// anyPort reports whether addr asks the kernel for a free port (":0"),
// which never collides.
func anyPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}

// IsLoopback reports whether addr's host is a loopback IP or "localhost".
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (c *Config) validateListeners(errs *Errors) {
	if len(c.Listeners) == 0 {
		errs.Add("listeners", "at least one listener is required")
	}
	names := map[string]bool{}
	addrs := map[string]string{}
	for i, l := range c.Listeners {
		p := Index("listeners", i)
		if l.Name == "" {
			errs.Add(Join(p, "name"), "must not be empty (leave it out for listener%d)", i)
		}
		if names[l.Name] {
			errs.Add(Join(p, "name"), "duplicate listener name %q", l.Name)
		}
		names[l.Name] = true
		validAddress(errs, Join(p, "address"), l.Address)
		if prev, dup := addrs[l.Address]; dup && l.Address != "" && !anyPort(l.Address) {
			errs.Add(Join(p, "address"), "already used by %s", prev)
		}
		addrs[l.Address] = Join(p, "address")
		switch {
		case l.TLS == nil && !l.Insecure:
			errs.Add(Join(p, "tls"), "is required (plain HTTP needs an explicit insecure: true)")
		case l.TLS != nil && l.Insecure:
			errs.Add(Join(p, "insecure"), "must not be set together with tls")
		case l.TLS != nil:
			validateListenerTLS(errs, Join(p, "tls"), l.TLS)
		}
		if l.HTTPRedirect != "" {
			validAddress(errs, Join(p, "http_redirect"), l.HTTPRedirect)
			if l.TLS == nil {
				errs.Add(Join(p, "http_redirect"), "needs tls on this listener to redirect to")
			}
			if prev, dup := addrs[l.HTTPRedirect]; dup && !anyPort(l.HTTPRedirect) {
				errs.Add(Join(p, "http_redirect"), "already used by %s", prev)
			}
			addrs[l.HTTPRedirect] = Join(p, "http_redirect")
		}
		if l.HSTS.MaxAge.D() < time.Second {
			errs.Add(Join(p, "hsts.max_age"), "must be at least 1s: HSTS cannot be turned off on an HTTPS listener")
		}
		seenNames := map[string]bool{}
		for j, n := range l.ServerNames {
			np := Index(Join(p, "server_names"), j)
			switch {
			case !hostRe.MatchString(n) && net.ParseIP(n) == nil:
				errs.Add(np, "invalid server name %q (lowercase name, *.domain or IP address)", n)
			case seenNames[n]:
				errs.Add(np, "duplicate server name %q", n)
			}
			seenNames[n] = true
		}
		lp := Join(p, "limits")
		// 0 would mean "no timeout" to net/http (and for idle_timeout,
		// "use read_timeout"): a slowloris opening, never a default.
		atLeast(errs, Join(lp, "read_header_timeout"), l.Limits.ReadHeaderTimeout, time.Millisecond)
		atLeast(errs, Join(lp, "idle_timeout"), l.Limits.IdleTimeout, time.Millisecond)
		if l.Limits.MaxConnections < 1 {
			errs.Add(Join(lp, "max_connections"), "must be at least 1")
		}
		if l.Limits.MaxHeaderBytes < 1<<10 || l.Limits.MaxHeaderBytes > 1<<20 {
			errs.Add(Join(lp, "max_header_bytes"), "must be between 1KiB and 1MiB")
		}
	}
}

func validateListenerTLS(errs *Errors, p string, t *ListenerTLS) {
	if t.CertFile == "" {
		errs.Add(Join(p, "cert_file"), "is required")
	}
	if t.KeyFile == "" {
		errs.Add(Join(p, "key_file"), "is required")
	}
	switch t.MinVersion {
	case "1.2", "1.3":
	default:
		errs.Add(Join(p, "min_version"), "must be \"1.2\" or \"1.3\", got %q", t.MinVersion)
	}
	switch t.ClientAuth {
	case "none":
		if t.ClientCAFile != "" {
			errs.Add(Join(p, "client_ca_file"), "is set but client_auth is \"none\"")
		}
	case "request":
		// Sent in the CertificateRequest, the CA names would make clients
		// withhold the self-signed certificates this mode exists for, and
		// nothing is verified against them.
		if t.ClientCAFile != "" {
			errs.Add(Join(p, "client_ca_file"), "must not be set with client_auth \"request\" (certificates are not verified)")
		}
	case "optional", "require":
		if t.ClientCAFile == "" {
			errs.Add(Join(p, "client_ca_file"), "is required when client_auth is %q", t.ClientAuth)
		}
	default:
		errs.Add(Join(p, "client_auth"), "must be one of none, request, optional, require; got %q", t.ClientAuth)
	}
	switch t.Profile {
	case "default", "fapi2":
	default:
		errs.Add(Join(p, "profile"), "must be default or fapi2; got %q", t.Profile)
	}
	if t.ReloadInterval.D() < 1e9 {
		errs.Add(Join(p, "reload_interval"), "must be at least 1s")
	}
}

func (c *Config) validateOps(errs *Errors) {
	if c.Ops.Disabled {
		return
	}
	validAddress(errs, "ops.address", c.Ops.Address)
	if c.Ops.Pprof && !IsLoopback(c.Ops.Address) {
		errs.Add("ops.pprof", "is only allowed when ops.address is a loopback address")
	}
}

func (c *Config) validateUpstreams(errs *Errors) {
	if len(c.Upstreams) == 0 {
		errs.Add("upstreams", "at least one upstream is required")
	}
	names := map[string]bool{}
	for i, u := range c.Upstreams {
		p := Index("upstreams", i)
		switch {
		case u.Name == "":
			errs.Add(Join(p, "name"), "is required")
		case !nameRe.MatchString(u.Name):
			errs.Add(Join(p, "name"), "must match %s", nameRe)
		case names[u.Name]:
			errs.Add(Join(p, "name"), "duplicate upstream name %q", u.Name)
		}
		names[u.Name] = true
		if len(u.Targets) == 0 {
			errs.Add(Join(p, "targets"), "at least one target is required")
		}
		for j, t := range u.Targets {
			validTarget(errs, Index(Join(p, "targets"), j), t)
		}
		if (u.TLS.CertFile == "") != (u.TLS.KeyFile == "") {
			errs.Add(Join(p, "tls"), "cert_file and key_file must be set together")
		}
		if *u.Retries < 0 || *u.Retries > 5 {
			errs.Add(Join(p, "retries"), "must be between 0 and 5")
		}
		// net/http would read 0 as its own default of 2.
		if u.MaxIdleConnsPerTarget < 1 {
			errs.Add(Join(p, "max_idle_conns_per_target"), "must be at least 1")
		}
		atLeast(errs, Join(p, "connect_timeout"), u.ConnectTimeout, time.Millisecond)
		if u.MaxConnsPerTarget < 0 {
			errs.Add(Join(p, "max_conns_per_target"), "must not be negative")
		}
		switch u.Protocol {
		case UpstreamProtocolAuto, UpstreamProtocolHTTP1:
		case UpstreamProtocolH2C:
			for j, t := range u.Targets {
				if !strings.HasPrefix(strings.ToLower(t), "http://") {
					errs.Add(Index(Join(p, "targets"), j), "must be http:// with protocol h2c (https:// targets negotiate HTTP/2 with protocol auto)")
				}
			}
		default:
			errs.Add(Join(p, "protocol"), "must be auto, http1 or h2c")
		}
		if h := u.HealthCheck; h != nil {
			hp := Join(p, "health_check")
			if !strings.HasPrefix(h.Path, "/") {
				errs.Add(Join(hp, "path"), "must start with /")
			}
			atLeast(errs, Join(hp, "timeout"), h.Timeout, time.Millisecond)
			if h.Timeout >= h.Interval {
				errs.Add(Join(hp, "timeout"), "must be shorter than interval")
			}
			if h.HealthyThreshold < 1 {
				errs.Add(Join(hp, "healthy_threshold"), "must be at least 1")
			}
			if h.UnhealthyThreshold < 1 {
				errs.Add(Join(hp, "unhealthy_threshold"), "must be at least 1")
			}
		}
		validatePassiveEjection(errs, Join(p, "passive_ejection"), u.PassiveEjection)
	}
}

func validTarget(errs *Errors, p, t string) {
	u, err := url.Parse(t)
	if err != nil {
		errs.Add(p, "invalid URL %q", t)
		return
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		errs.Add(p, "scheme must be http or https, got %q", t)
	case u.Host == "" || u.Hostname() == "":
		errs.Add(p, "missing host in %q", t)
	case u.User != nil:
		errs.Add(p, "must not contain credentials")
	case u.RawQuery != "" || u.Fragment != "":
		errs.Add(p, "must not have a query or fragment")
	}
}

// knownMethods are the methods a route can name: the ones the router
// routes (router.Methods), so configuration and routing never disagree.
var knownMethods = func() map[string]bool {
	m := make(map[string]bool, len(router.Methods))
	for _, name := range router.Methods {
		m[name] = true
	}
	return m
}()

func (c *Config) validateRoutes(errs *Errors) {
	if len(c.Routes) == 0 {
		errs.Add("routes", "at least one route is required")
	}
	upstreams := map[string]bool{}
	for _, u := range c.Upstreams {
		upstreams[u.Name] = true
	}
	names := map[string]bool{}
	for i, r := range c.Routes {
		p := Index("routes", i)
		switch {
		case r.Name == "":
			errs.Add(Join(p, "name"), "is required")
		case !nameRe.MatchString(r.Name):
			errs.Add(Join(p, "name"), "must match %s", nameRe)
		case names[r.Name]:
			errs.Add(Join(p, "name"), "duplicate route name %q", r.Name)
		}
		names[r.Name] = true
		switch {
		case r.Path == "" && r.Prefix == "":
			errs.Add(p, "one of path or prefix is required")
		case r.Path != "" && r.Prefix != "":
			errs.Add(p, "path and prefix are mutually exclusive")
		}
		for j, h := range r.Hosts {
			if !hostRe.MatchString(h) {
				errs.Add(Index(Join(p, "hosts"), j), "invalid host %q (lowercase name or *.domain)", h)
			}
		}
		seen := map[string]bool{}
		for j, m := range r.Methods {
			mp := Index(Join(p, "methods"), j)
			switch {
			case m == "TRACE" || m == "CONNECT":
				errs.Add(mp, "%s is never proxied", m)
			case !methodRe.MatchString(m):
				errs.Add(mp, "invalid method %q (methods are case-sensitive: use uppercase, e.g. GET)", m)
			case !knownMethods[m]:
				errs.Add(mp, "unsupported method %q (one of %s)", m, strings.Join(router.Methods, ", "))
			case seen[m]:
				errs.Add(mp, "duplicate method %q", m)
			}
			seen[m] = true
		}
		switch {
		case r.Upstream == "":
			errs.Add(Join(p, "upstream"), "is required")
		case !upstreams[r.Upstream]:
			errs.Add(Join(p, "upstream"), "unknown upstream %q", r.Upstream)
		}
		if r.Auth == nil {
			errs.Add(Join(p, "auth"), "is required: name authenticators, or write \"auth: none\" to make the route public on purpose")
		}
		atLeast(errs, Join(p, "timeout"), r.Timeout, time.Millisecond)
		switch r.PathCharset {
		case "utf-8", "ascii":
		default:
			errs.Add(Join(p, "path_charset"), "must be utf-8 or ascii; got %q", r.PathCharset)
		}
		if *r.MaxBodyBytes > 1<<30 {
			errs.Add(Join(p, "max_body_bytes"), "must be at most 1GiB")
		}
		validateWebSocket(errs, p, r)
		validateWAF(errs, p, r)
	}
}

func validatePassiveEjection(errs *Errors, p string, pe PassiveEjection) {
	if !(pe.FailureRatio > 0 && pe.FailureRatio <= 1) {
		errs.Add(Join(p, "failure_ratio"), "must be above 0 and at most 1")
	}
	if pe.MinRequests < 2 {
		errs.Add(Join(p, "min_requests"), "must be at least 2: a single failure never ejects a target")
	}
	if pe.Window.D() < 100*time.Millisecond || pe.Window.D() > 10*time.Minute {
		errs.Add(Join(p, "window"), "must be between 100ms and 10m")
	}
	if pe.EjectFor.D() < 100*time.Millisecond {
		errs.Add(Join(p, "eject_for"), "must be at least 100ms")
	}
	if pe.MaxEjectionPercent < 1 || pe.MaxEjectionPercent > 100 {
		errs.Add(Join(p, "max_ejection_percent"), "must be between 1 and 100")
	}
}

// validateWebSocket refuses tunnel limits on a route that does not tunnel:
// they would suggest a protection that is not there.
func validateWebSocket(errs *Errors, p string, r Route) {
	if !r.WebSocket {
		if r.WebSocketIdleTimeout != 0 {
			errs.Add(Join(p, "websocket_idle_timeout"), "needs websocket: true")
		}
		if r.WebSocketMaxLifetime != 0 {
			errs.Add(Join(p, "websocket_max_lifetime"), "needs websocket: true")
		}
		return
	}
	if r.WebSocketIdleTimeout.D() < 100*time.Millisecond {
		errs.Add(Join(p, "websocket_idle_timeout"), "must be at least 100ms")
	}
	if d := r.WebSocketMaxLifetime.D(); d < 100*time.Millisecond || d > 24*time.Hour {
		errs.Add(Join(p, "websocket_max_lifetime"), "must be between 100ms and 24h")
	}
}
