package config

import "strings"

// Headers bounds what crosses the gateway in headers: request headers a
// client may not send upstream, response headers an upstream may not send
// to the client, and how much an upstream may answer with.
type Headers struct {
	// RequestStrip are more request headers removed before forwarding, on
	// top of DefaultRequestStrip (which cannot be turned off: each entry is
	// a way to spoof what the gateway vouches for). Exact names, or
	// prefixes ending in "*" ("X-Internal-*"). Default: none.
	RequestStrip []string `yaml:"request_strip"`
	// ResponseStrip are more response headers removed before the client
	// sees them, on top of DefaultResponseStrip. Same syntax. Default: none.
	ResponseStrip []string `yaml:"response_strip"`
	// ResponseKeep exempts entries of DefaultResponseStrip (written as the
	// docs/configuration.md lists them, e.g. "Via" or "X-Backend-*"), for clients that
	// need them. Default: none.
	ResponseKeep []string `yaml:"response_keep"`
	// MaxResponseHeaders bounds the header fields of one upstream response
	// (every value counts); more gives the client 502. Default 100.
	MaxResponseHeaders *int `yaml:"max_response_headers"`
	// MaxResponseHeaderBytes bounds their total size (name, value and 4
	// bytes per field); more gives the client 502. Default 64KiB.
	MaxResponseHeaderBytes *ByteSize `yaml:"max_response_header_bytes"`
	// MaxInformationalResponses bounds the 1xx responses relayed to the
	// client per request; one more ends the exchange with 502. 0 relays
	// none (an upstream that sends one gets 502). Default 5.
	MaxInformationalResponses *int `yaml:"max_informational_responses"`
}

// Header limits.
const (
	DefaultMaxResponseHeaders        = 100
	DefaultMaxResponseHeaderBytes    = 64 << 10
	DefaultMaxInformationalResponses = 5
)

// UpstreamErrorsMask is the routes[].upstream_errors value that replaces
// upstream 5xx answers with the gateway's own 502 problem.
const UpstreamErrorsMask = "mask"

// DefaultRequestStrip are the request headers never forwarded as the
// client sent them: client-IP and URL overrides that backends and
// frameworks believe, consumer information only the gateway may assert,
// method overrides (every stage must see the method on the wire), and
// trace context and request ids, which the gateway replaces with its own.
var DefaultRequestStrip = []string{
	"Forwarded", "X-Forwarded-*",
	"X-Real-Ip", "True-Client-Ip", "X-Client-Ip", "Client-Ip", "X-Cluster-Client-Ip",
	"Cf-Connecting-Ip", "Fastly-Client-Ip", "X-Originating-Ip", "X-Remote-Ip", "X-Remote-Addr",
	"X-Original-Url", "X-Original-Uri", "X-Rewrite-Url", "X-Host", "X-Original-Host",
	"X-Consumer-*",
	"X-Http-Method-Override", "X-Http-Method", "X-Method-Override",
	"Traceparent", "Tracestate", "B3", "X-B3-*",
	"X-Request-Id",
}

// DefaultResponseStrip are the response headers that name the software,
// version, host or internal route behind the gateway.
var DefaultResponseStrip = []string{
	"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-SourceFiles",
	"Via", "X-Backend-*", "X-Upstream-*", "X-Served-By", "X-Server", "X-Runtime",
	"X-Generator", "X-Drupal-*", "X-Varnish", "X-Varnish-*", "X-Debug-Token", "X-Debug-Token-Link",
	"X-Application-Context", "X-Envoy-*", "X-Turbo-Charged-By", "X-Mod-Pagespeed", "X-Page-Speed",
}

func (Headers) defaults() any {
	return Headers{
		MaxResponseHeaders:        ptr(DefaultMaxResponseHeaders),
		MaxResponseHeaderBytes:    ptr(ByteSize(DefaultMaxResponseHeaderBytes)),
		MaxInformationalResponses: ptr(DefaultMaxInformationalResponses),
	}
}

func (c *Config) validateHeaders(errs *Errors) {
	h := &c.Headers
	for i, p := range h.RequestStrip {
		validHeaderPattern(errs, Index("headers.request_strip", i), p)
	}
	for i, p := range h.ResponseStrip {
		validHeaderPattern(errs, Index("headers.response_strip", i), p)
	}
	for i, p := range h.ResponseKeep {
		found := false
		for _, d := range DefaultResponseStrip {
			found = found || strings.EqualFold(d, p)
		}
		if !found {
			errs.Add(Index("headers.response_keep", i), "%q is not in the default response strip list", p)
		}
	}
	if n := h.MaxResponseHeaders; n != nil && (*n < 1 || *n > 10000) {
		errs.Add("headers.max_response_headers", "must be between 1 and 10000")
	}
	if b := h.MaxResponseHeaderBytes; b != nil && (*b < 1<<10 || *b > 1<<20) {
		errs.Add("headers.max_response_header_bytes", "must be between 1KiB and 1MiB")
	}
	if n := h.MaxInformationalResponses; n != nil && (*n < 0 || *n > 100) {
		errs.Add("headers.max_informational_responses", "must be between 0 and 100")
	}
	for i, r := range c.Routes {
		switch r.UpstreamErrors {
		case "pass", UpstreamErrorsMask:
		default:
			errs.Add(Join(Index("routes", i), "upstream_errors"), "must be pass or mask; got %q", r.UpstreamErrors)
		}
	}
}

// validHeaderPattern accepts a header name, or a prefix of one followed by
// "*" (a bare "*" would strip everything).
func validHeaderPattern(errs *Errors, path, p string) {
	name, _ := strings.CutSuffix(p, "*")
	if p == "*" || strings.Contains(name, "*") {
		errs.Add(path, "invalid header pattern %q (a name, or a prefix ending in *)", p)
		return
	}
	validHeaderName(errs, path, name)
}
