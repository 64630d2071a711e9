// Package config owns the Portcullis configuration file: its typed
// structure, secure defaults, ${ENV} expansion, strict decoding (unknown keys
// are errors) and validation that reports every problem with its path.
//
// Every field documents its default and units; the configuration reference
// in docs/ mirrors these comments (TestEveryKeyIsDocumented).
package config

// Config is the whole configuration file.
type Config struct {
	// Listeners are the public listeners (at least one).
	Listeners []Listener `yaml:"listeners"`
	// Ops is the health/metrics listener.
	Ops Ops `yaml:"ops"`
	// TrustedProxies are the CIDRs whose forwarding header is believed when
	// deriving the client IP. Default: none (the peer address is the client).
	TrustedProxies []Prefix `yaml:"trusted_proxies"`
	// ClientIPHeader is the one forwarding header read from trusted
	// proxies: "x-forwarded-for" (default) or "forwarded" (RFC 7239 for=).
	// Its kind also carries the scheme and host the client used
	// (X-Forwarded-Proto and X-Forwarded-Host, or Forwarded proto= and
	// host=), which DPoP proofs are checked against.
	ClientIPHeader string `yaml:"client_ip_header"`
	// ClientCertHeader is where a TLS-terminating proxy in TrustedProxies
	// puts the client certificate, for certificate-bound tokens (RFC 8705).
	// Default: none (only the certificate of the TLS connection counts).
	ClientCertHeader *ClientCertHeader `yaml:"client_cert_header"`
	// Upstreams are the backends routes send traffic to.
	Upstreams []Upstream `yaml:"upstreams"`
	// Routes map requests to upstreams (at least one).
	Routes []Route `yaml:"routes"`
	// Logging configures the application log and the access log.
	Logging Logging `yaml:"logging"`
	// Shutdown configures graceful shutdown.
	Shutdown Shutdown `yaml:"shutdown"`
	// Reload configures config reloading.
	Reload Reload `yaml:"reload"`
	// Authenticators are the named ways routes verify callers.
	Authenticators []Authenticator `yaml:"authenticators"`
	// IdentityHeaders name the headers carrying the verified identity upstream.
	IdentityHeaders IdentityHeaders `yaml:"identity_headers"`
	// Keys configures API key management and its store.
	Keys Keys `yaml:"keys"`
	// Admin configures the admin API.
	Admin Admin `yaml:"admin"`
	// RateLimits configures throttling, quotas and abuse defence.
	RateLimits RateLimits `yaml:"rate_limits"`
	// Tracing configures OpenTelemetry tracing. Default: off.
	Tracing Tracing `yaml:"tracing"`
	// Headers bounds the headers that cross the gateway in either
	// direction.
	Headers Headers `yaml:"headers"`
	// Security configures security monitoring: events, detectors,
	// automatic responses and shipping to a SIEM.
	Security Security `yaml:"security"`
	// MessageSigning is the gateway's own HTTP Message Signatures key,
	// used by routes that sign requests upstream or responses.
	MessageSigning MessageSigning `yaml:"message_signing"`
	// SharedState bounds the store of idempotency keys and signature
	// nonces.
	SharedState SharedState `yaml:"shared_state"`
}

// Listener is one public listener.
type Listener struct {
	// Name identifies the listener in logs. Default: "listener<index>".
	Name string `yaml:"name"`
	// Address is host:port to listen on. Required.
	Address string `yaml:"address"`
	// TLS is required unless Insecure is true.
	TLS *ListenerTLS `yaml:"tls"`
	// Insecure serves plain HTTP. Default false; logs a warning when true.
	Insecure bool `yaml:"insecure"`
	// HTTPRedirect is an optional host:port for a plain-HTTP listener that
	// only answers 308 redirects to this listener. Default: none.
	HTTPRedirect string `yaml:"http_redirect"`
	// ServerNames are the hosts this listener serves: exact lowercase
	// names, "*.example.com" wildcards (one or more labels) or IP
	// addresses. A request whose Host (HTTP/2 :authority) is not one of
	// them, or differs from the TLS server name (SNI) the client sent,
	// gets 421 Misdirected Request. Default: none, any host is accepted
	// (and a warning is logged at startup for a non-loopback address).
	ServerNames []string `yaml:"server_names"`
	// HSTS configures Strict-Transport-Security on HTTPS responses.
	HSTS HSTS `yaml:"hsts"`
	// Limits are the server's timeouts and size/connection limits.
	Limits ServerLimits `yaml:"limits"`
}

// ListenerTLS is a listener's certificate and TLS policy.
type ListenerTLS struct {
	// CertFile is the PEM certificate chain. Required. Reloaded when it changes.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key. Required. Reloaded when it changes.
	KeyFile string `yaml:"key_file"`
	// MinVersion is "1.2" (default) or "1.3". TLS 1.2 is limited to ECDHE
	// key exchange with AEAD ciphers.
	MinVersion string `yaml:"min_version"`
	// ClientAuth is "none" (default), "optional" or "require": whether a
	// client certificate (mTLS) is asked for and verified against
	// ClientCAFile; or "request": one is asked for, not required and not
	// verified, so that self-signed certificates that certificate-bound
	// tokens are bound to (RFC 8705 §2.2) reach the gateway. The mtls
	// authenticator never accepts an unverified certificate.
	ClientAuth string `yaml:"client_auth"`
	// ClientCAFile is the PEM bundle of CAs that sign client certificates.
	// Required when ClientAuth is "optional" or "require"; refused with
	// "none" and "request".
	ClientCAFile string `yaml:"client_ca_file"`
	// Profile is the cipher policy: "default" (TLS 1.2 with ECDHE and
	// AES-GCM or ChaCha20-Poly1305) or "fapi2" (TLS 1.2 only with the
	// FAPI 2.0 suites, ECDHE with AES-GCM). TLS 1.3 is the same in both.
	// Routes with profile fapi2 answer only on fapi2 listeners.
	Profile string `yaml:"profile"`
	// ReloadInterval is how often the certificate, key and CA files are
	// checked for changes. Default 10s.
	ReloadInterval Duration `yaml:"reload_interval"`
}

// HSTS configures the Strict-Transport-Security header.
type HSTS struct {
	// MaxAge is the max-age. Default 365d; at least 1s (HSTS cannot be
	// turned off on an HTTPS listener).
	MaxAge Duration `yaml:"max_age"`
	// IncludeSubdomains adds includeSubDomains. Default true.
	IncludeSubdomains *bool `yaml:"include_subdomains"`
	// Preload adds preload. Default false.
	Preload bool `yaml:"preload"`
}

// ServerLimits bound what one client can hold of the server.
type ServerLimits struct {
	// ReadHeaderTimeout bounds reading request headers (slowloris). Default
	// 5s; at least 1ms.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds reading the whole request. Default 30s; 0 means no
	// limit.
	ReadTimeout Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing the response. Default 60s; 0 means no
	// limit.
	WriteTimeout Duration `yaml:"write_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default 120s; at least
	// 1ms.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds the request line and headers. Default 32KiB.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxConnections bounds concurrent connections; further connections wait
	// in the kernel backlog. Default 10000.
	MaxConnections int `yaml:"max_connections"`
}

// Ops is the operations listener: /healthz, /readyz, /metrics.
type Ops struct {
	// Address is host:port. Default 127.0.0.1:9090. A non-loopback address
	// must be set explicitly and exposes metrics to that network.
	Address string `yaml:"address"`
	// Disabled turns the ops listener off. Default false.
	Disabled bool `yaml:"disabled"`
	// Pprof serves /debug/pprof/ on the ops listener. Default false; only
	// allowed when Address is a loopback address.
	Pprof bool `yaml:"pprof"`
}

// Upstream is a named backend with one or more targets.
type Upstream struct {
	// Name is how routes refer to this upstream. Required, unique.
	Name string `yaml:"name"`
	// Targets are base URLs (http:// or https://, optional base path),
	// balanced round-robin. At least one.
	Targets []string `yaml:"targets"`
	// TLS configures connections to https:// targets.
	TLS UpstreamTLS `yaml:"tls"`
	// ConnectTimeout bounds dialing a target (and the TLS handshake). Default 5s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// ResponseHeaderTimeout bounds waiting for response headers after the
	// request is sent. Default 30s. Exceeding it gives 504.
	ResponseHeaderTimeout Duration `yaml:"response_header_timeout"`
	// IdleConnTimeout closes idle pooled connections. Default 90s; 0 keeps
	// them until the upstream closes them.
	IdleConnTimeout Duration `yaml:"idle_conn_timeout"`
	// MaxIdleConnsPerTarget is the keep-alive pool size per target. Default
	// 256; at least 1.
	MaxIdleConnsPerTarget int `yaml:"max_idle_conns_per_target"`
	// MaxConnsPerTarget bounds connections per target; 0 (default) is unlimited.
	MaxConnsPerTarget int `yaml:"max_conns_per_target"`
	// Protocol is the HTTP version spoken to the targets: "auto" (default:
	// HTTP/2 to https:// targets that offer it in ALPN, else HTTP/1.1),
	// "http1" (never HTTP/2) or "h2c" (HTTP/2 without TLS, by prior
	// knowledge; http:// targets only).
	Protocol string `yaml:"protocol"`
	// Retries is how many other targets are tried when connecting fails, for
	// idempotent methods without a body only. Default 1; 0 disables.
	Retries *int `yaml:"retries"`
	// PreserveHost sends the client's Host header upstream instead of the
	// target's. Default false.
	PreserveHost bool `yaml:"preserve_host"`
	// HealthCheck enables active health checks. Default: off.
	HealthCheck *HealthCheck `yaml:"health_check"`
	// PassiveEjection takes a target out of rotation when too large a share
	// of its requests fail (outlier detection). Always on; these are its
	// settings.
	PassiveEjection PassiveEjection `yaml:"passive_ejection"`
	// OpenAPI checks the requests of every route to this upstream against
	// one document (compiled once), unless a route has its own openapi.
	// Default: none.
	OpenAPI *OpenAPI `yaml:"openapi"`
}

// The values of upstreams[].protocol.
const (
	UpstreamProtocolAuto  = "auto"
	UpstreamProtocolHTTP1 = "http1"
	UpstreamProtocolH2C   = "h2c"
)

// UpstreamTLS is the client side of TLS to an upstream.
type UpstreamTLS struct {
	// CAFile is a PEM bundle trusted for upstream certificates instead of the
	// system roots. Default: system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate for mTLS to the upstream.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the upstream's certificate.
	// Default: the target's host.
	ServerName string `yaml:"server_name"`
}

// HealthCheck is an active health check of every target.
type HealthCheck struct {
	// Path is requested with GET on each target. Default /healthz.
	Path string `yaml:"path"`
	// Interval between checks. Default 10s.
	Interval Duration `yaml:"interval"`
	// Timeout of one check. Default 2s.
	Timeout Duration `yaml:"timeout"`
	// HealthyThreshold consecutive 2xx/3xx answers make a target healthy. Default 2.
	HealthyThreshold int `yaml:"healthy_threshold"`
	// UnhealthyThreshold consecutive failures make it unhealthy. Default 3.
	UnhealthyThreshold int `yaml:"unhealthy_threshold"`
}

// PassiveEjection configures outlier detection: a target is taken out of
// rotation when, within one window, it served at least MinRequests and at
// least FailureRatio of them failed. A failure is one the target caused
// (connect error, reset, timeout, protocol error, a 502/503/504 answer),
// never one the client caused. The last available target of an upstream
// is never ejected, and a passing active health check ends an ejection.
type PassiveEjection struct {
	// FailureRatio is the share of failed requests in a window that ejects
	// a target, above 0 and at most 1. Default 0.5.
	FailureRatio float64 `yaml:"failure_ratio"`
	// MinRequests is how many requests a target must have served in the
	// window before its ratio is judged, at least 2 (never a single
	// event). Default 20.
	MinRequests int `yaml:"min_requests"`
	// Window is the span over which requests and failures are counted
	// (fixed windows), 100ms to 10m. Default 10s.
	Window Duration `yaml:"window"`
	// EjectFor is how long an ejected target stays out, at least 100ms.
	// Default 30s.
	EjectFor Duration `yaml:"eject_for"`
	// MaxEjectionPercent bounds the share of an upstream's targets that
	// may be ejected at once, rounded down (1 to 100). Default 50: one of
	// two targets, none of one.
	MaxEjectionPercent int `yaml:"max_ejection_percent"`
}

// Route maps matching requests to an upstream through a chain of checks.
type Route struct {
	// Name identifies the route in logs and metrics. Required, unique.
	Name string `yaml:"name"`
	// Hosts the route answers for (exact, or "*.example.com"). Default: any host.
	Hosts []string `yaml:"hosts"`
	// Path is an exact path, with optional {param} segments. One of Path or
	// Prefix is required.
	Path string `yaml:"path"`
	// Prefix matches this path and everything below it, on segment
	// boundaries ("/v1/files" matches "/v1/files/a", not "/v1/filesx").
	Prefix string `yaml:"prefix"`
	// Methods the route accepts, from GET, HEAD, POST, PUT, PATCH, DELETE
	// and OPTIONS (case-sensitive). Default: all of those; any other
	// method gets 405.
	Methods []string `yaml:"methods"`
	// PathCharset is what the decoded request path may contain: "utf-8"
	// (default: valid UTF-8; invalid and overlong sequences get 400 on
	// every route) or "ascii" (any byte outside ASCII after decoding gets
	// 400, so full-width and other look-alikes of "." and "/" never reach
	// a backend that folds Unicode).
	PathCharset string `yaml:"path_charset"`
	// Upstream is the name of the upstream. Required.
	Upstream string `yaml:"upstream"`
	// Auth is required: "none" or an auth block. A route without it is an
	// error so that no route is open by accident.
	Auth *RouteAuth `yaml:"auth"`
	// MaxBodyBytes bounds the request body; larger gets 413. Default 1MiB;
	// 0 accepts no body.
	MaxBodyBytes *ByteSize `yaml:"max_body_bytes"`
	// Timeout bounds the whole upstream exchange. Default 60s; exceeding it
	// gives 504.
	Timeout Duration `yaml:"timeout"`
	// RateLimits names the rate_limits.policies applied on this route (in
	// addition to rate_limits.global). Default: none.
	RateLimits []string `yaml:"rate_limits"`
	// IPAllow, when not empty, admits only client IPs in these CIDRs on
	// this route (on top of rate_limits.ip_allow). Default: empty.
	IPAllow []Prefix `yaml:"ip_allow"`
	// IPDeny rejects client IPs in these CIDRs on this route with 403.
	// Default: empty.
	IPDeny []Prefix `yaml:"ip_deny"`
	// WebSocket forwards WebSocket upgrades (an HTTP/1.1 GET with
	// "Upgrade: websocket") on this route and tunnels the connection after
	// the upstream's 101. Default false: an Upgrade header is removed and
	// the request is forwarded as an ordinary one. h2c is never forwarded.
	WebSocket bool `yaml:"websocket"`
	// WebSocketIdleTimeout closes a tunnel after this long without a byte
	// in either direction. Default 5m; only with websocket: true.
	WebSocketIdleTimeout Duration `yaml:"websocket_idle_timeout"`
	// WebSocketMaxLifetime closes a tunnel this long after it opened,
	// however busy. Default 1h; only with websocket: true. A tunnel also
	// closes when the credential that opened it expires.
	WebSocketMaxLifetime Duration `yaml:"websocket_max_lifetime"`
	// AllowUnderscoreHeaders forwards request headers whose name contains
	// "_". Default false: they are dropped, because CGI, WSGI and Rack
	// servers read X_Consumer_Id as X-Consumer-Id.
	AllowUnderscoreHeaders bool `yaml:"allow_underscore_headers"`
	// AllowTrailers forwards request trailers. Default false: they are
	// dropped, since no check of the gateway sees them.
	AllowTrailers bool `yaml:"allow_trailers"`
	// UpstreamErrors is "pass" (default: upstream 5xx answers reach the
	// client as sent) or "mask" (they are replaced with the gateway's 502
	// problem, so stack traces and connection strings never leave).
	UpstreamErrors string `yaml:"upstream_errors"`
	// WAF inspects requests (and optionally responses) with Coraza and
	// the OWASP Core Rule Set. Default: none (see docs/waf.md).
	WAF *RouteWAF `yaml:"waf"`
	// ContentTypes, when not empty, are the only request media types
	// accepted with a body (type/subtype, parameters ignored); any other,
	// a missing or malformed Content-Type included, gets 415. Default:
	// empty (any).
	ContentTypes []MediaType `yaml:"content_types"`
	// JSONLimits bound the structure of JSON request bodies. On by
	// default.
	JSONLimits JSONLimits `yaml:"json_limits"`
	// OpenAPI checks requests against an OpenAPI document, replacing the
	// upstream's. Default: the upstream's, if any.
	OpenAPI *OpenAPI `yaml:"openapi"`
	// Idempotency enforces the Idempotency-Key header on this route.
	// Default: off.
	Idempotency *Idempotency `yaml:"idempotency"`
	// Signatures verifies and adds HTTP Message Signatures on this route.
	// Default: off.
	Signatures *RouteSignatures `yaml:"signatures"`
	// Profile is "none" (default) or "fapi2": the FAPI 2.0 Security
	// Profile's resource-server rules, checked at load (see
	// validateFAPIRoute) and on every request (package fapi).
	Profile string `yaml:"profile"`
}

// Logging configures the application and access logs.
type Logging struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Access configures the access log.
	Access AccessLog `yaml:"access"`
	// WAF configures the WAF's error log (docs/waf.md).
	WAF WAFLog `yaml:"waf"`
}

// AccessLog is the structured JSON access log.
type AccessLog struct {
	// Enabled turns the access log on. Default true.
	Enabled *bool `yaml:"enabled"`
	// Output is "stdout" (default), "stderr" or a file path (appended to).
	Output string `yaml:"output"`
	// Headers are extra request headers to log. Authorization, Cookie,
	// Set-Cookie, Proxy-Authorization, X-API-Key and RedactHeaders are
	// always written as "[REDACTED]".
	Headers []string `yaml:"headers"`
	// RedactHeaders are more header names whose values must never be logged.
	RedactHeaders []string `yaml:"redact_headers"`
	// BufferSize is the write buffer; lines are flushed when it fills or
	// every FlushInterval. Default 64KiB.
	BufferSize ByteSize `yaml:"buffer_size"`
	// FlushInterval bounds how long a line waits in the buffer. Default 1s.
	FlushInterval Duration `yaml:"flush_interval"`
}

// Shutdown configures graceful shutdown on SIGTERM/SIGINT.
type Shutdown struct {
	// PreStopDelay is how long, after SIGTERM, the gateway keeps serving
	// while /readyz answers 503 "shutting down", so load balancers take the
	// instance out of rotation before its listeners close; responses carry
	// Connection: close (HTTP/1.1) and HTTP/2 connections get GOAWAY as
	// they go idle. Then the drain starts. An interrupt (Ctrl-C) or a
	// second SIGTERM skips it. Default 5s; 0 drains at once; at most 5m.
	PreStopDelay Duration `yaml:"pre_stop_delay"`
	// DrainTimeout is how long in-flight requests may finish. Default 30s; 0
	// closes connections at once.
	DrainTimeout Duration `yaml:"drain_timeout"`
}

// Reload configures configuration reloads (SIGHUP always reloads).
type Reload struct {
	// Watch also reloads when the file changes. Default false.
	Watch bool `yaml:"watch"`
	// Interval is how often a watched file is checked. Default 2s.
	Interval Duration `yaml:"interval"`
}
