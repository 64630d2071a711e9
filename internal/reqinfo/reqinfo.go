// Package reqinfo owns the per-request record the gateway fills as a request
// moves through the chain (id, client IP, route, principal, timings), kept in
// one context value so that the chain allocates it once and the access log
// reads it at the end.
package reqinfo

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/portcullis/portcullis/internal/principal"
)

// Info is what the gateway knows about one request. Only the goroutine
// serving the request writes it.
type Info struct {
	// ID is the request id (kept from the client or generated).
	ID string
	// Start is when the gateway began serving the request.
	Start time.Time
	// ClientIP is the caller's address as derived from trusted_proxies.
	ClientIP netip.Addr
	// Peer is the address of the connection's other end (the client, or a
	// proxy in front of the gateway).
	Peer netip.Addr
	// Method is the request method.
	Method string
	// TrustedPeer reports whether Peer is one of trusted_proxies, whose
	// forwarding and client-certificate headers are believed.
	TrustedPeer bool
	// TLSProfile is the tls.profile of the listener the request came in
	// on ("" for a plain-HTTP listener).
	TLSProfile string
	// Target returns the request's target URI as the client sent it:
	// scheme and authority as the client used them (through trusted
	// proxies' forwarding headers, within the listener's server_names),
	// and the path as received, without the query. Nil outside a
	// listener. DPoP proofs are checked against it.
	Target func(r *http.Request) (string, error)
	// Path is the normalised request path the route matched on and the
	// upstream receives.
	Path string
	// Route is the name of the matched route ("" before or without a match).
	Route string
	// Params holds the route's {param} values.
	Params map[string]string
	// Principal is the authenticated caller (nil until authenticated).
	Principal *principal.Principal
	// Upstream is the name of the upstream the request was sent to.
	Upstream string
	// UpstreamLatency is the time from sending the request upstream to
	// receiving the response headers.
	UpstreamLatency time.Duration
	// AuthFailure is the logged reason an authenticator rejected the request.
	// It never contains the credential.
	AuthFailure string
	// CredentialHint identifies the credential a failed request presented
	// (an API key id, a token's unverified subject), for brute-force
	// counting and the log. Never the secret itself.
	CredentialHint string
	// Body is the request body, read once by the route's body stage when
	// the route needs it (BodyRead); every stage that inspects the body
	// and the upstream see these same bytes.
	Body []byte
	// BodyRead reports whether Body holds the whole request body.
	BodyRead bool
	// Err is the internal cause of an error response, for the log only.
	Err error
	// UpstreamErr is the proxy's error, handed from its error hook back to
	// the forwarder.
	UpstreamErr error
	// WAF is the route's WAF verdict (nil on routes without a WAF).
	WAF *WAFOutcome
	// Uncounted marks a request that will be answered from stored state,
	// never by the upstream (an idempotent replay): rate limits neither
	// count nor refuse it, and the forwarder refuses to send it.
	Uncounted bool

	clientIPString string
}

// WAFOutcome is what the WAF concluded about one request, for the access
// log. It names rules and scores, never matched values.
type WAFOutcome struct {
	// Action is "pass", "blocked", "detected" (a detect-mode route would
	// have blocked) or "error" (the WAF failed; the request was refused).
	Action string
	// RuleIDs are the detection rules that matched, request side first.
	RuleIDs []int
	// InboundScore and OutboundScore are the CRS anomaly scores.
	InboundScore, OutboundScore int
}

// ClientIPString is ClientIP formatted once per request.
func (i *Info) ClientIPString() string {
	if i.clientIPString == "" && i.ClientIP.IsValid() {
		i.clientIPString = i.ClientIP.String()
	}
	return i.clientIPString
}

type ctxKey struct{}

// With returns ctx carrying info.
func With(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, ctxKey{}, info)
}

// From returns the Info on ctx. It never returns nil: outside the gateway
// (e.g. in a unit test of one middleware) it returns a fresh empty Info.
func From(ctx context.Context) *Info {
	if info, ok := ctx.Value(ctxKey{}).(*Info); ok {
		return info
	}
	return &Info{}
}

// Lookup returns the Info on ctx and whether there was one.
func Lookup(ctx context.Context) (*Info, bool) {
	info, ok := ctx.Value(ctxKey{}).(*Info)
	return info, ok
}
