package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/clientip"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/requestid"
)

// bufferPool reuses copy buffers across responses.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

var buffers = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

// Forwarder forwards requests to one upstream. It is the last handler of a
// route's chain, and the one place that decides what the upstream
// receives and what the client gets back of the upstream's answer.
type Forwarder struct {
	up       *Upstream
	rp       *httputil.ReverseProxy
	timeout  time.Duration
	resolver *clientip.Resolver
	headers  *HeaderPolicy
	identity Asserter
	origins  []targetOrigin
	route    RouteOptions
	tunnel   *TunnelLimits // nil: the route forwards no upgrade
	log      *slog.Logger

	responseStages []pipeline.ResponseStage
	outboundStages []pipeline.OutboundStage
}

var _ pipeline.Handler = (*Forwarder)(nil)

// Asserter sets on the outbound request what the gateway vouches for
// about the caller (identity headers) and removes the credentials it did
// not verify. p is nil when nobody was authenticated.
type Asserter interface {
	Assert(out *http.Request, p *principal.Principal)
}

// RouteOptions are a route's forwarding choices (config.Route).
type RouteOptions struct {
	// AllowUnderscoreHeaders forwards request headers with "_" in the name.
	AllowUnderscoreHeaders bool
	// AllowTrailers forwards request trailers.
	AllowTrailers bool
	// MaskUpstreamErrors answers an upstream 5xx with the gateway's 502.
	MaskUpstreamErrors bool
}

// Options are what a Forwarder is built from.
type Options struct {
	// Timeout bounds the whole upstream exchange.
	Timeout time.Duration
	// Resolver says which peers are trusted proxies.
	Resolver *clientip.Resolver
	// Log receives the proxy's own error lines.
	Log *slog.Logger
	// Headers is the runtime's header policy (nil: the defaults).
	Headers *HeaderPolicy
	// Identity sets identity headers and strips credentials (nil: neither).
	Identity Asserter
	// Route holds the route's choices.
	Route RouteOptions
	// ResponseStages act on the upstream's response before the client
	// gets it, in this order.
	ResponseStages []pipeline.ResponseStage
	// OutboundStages act on each attempt's outbound request after the
	// final rewrite (signing), in this order.
	OutboundStages []pipeline.OutboundStage
}

// NewForwarder returns the handler that proxies to up.
func NewForwarder(up *Upstream, o Options) *Forwarder {
	f := &Forwarder{up: up, timeout: o.Timeout, resolver: o.Resolver, headers: o.Headers,
		identity: o.Identity, origins: originsOf(up.Targets), route: o.Route, responseStages: o.ResponseStages,
		outboundStages: o.OutboundStages}
	if f.headers == nil {
		f.headers = defaultHeaderPolicy
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f.log = log
	// The reverse proxy serves only WebSocket upgrades (its tunnel); every
	// other request takes the forwarder's own exchange (relay.go).
	f.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			f.headers.stripRequest(pr.Out.Header, f.route.AllowUnderscoreHeaders)
			f.rewrite(pr.In, pr.Out, reqinfo.From(pr.In.Context()))
		},
		Transport:  relayTransport{up},
		BufferPool: buffers,
		// 0: responses are buffered, except that ReverseProxy flushes every
		// write of streaming responses (text/event-stream, unknown length).
		FlushInterval:  0,
		ModifyResponse: f.modifyResponse,
		// The error goes back to ServeHTTP through the request's Info, so it
		// is returned as a problem, never written by the proxy.
		ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
			reqinfo.From(r.Context()).UpstreamErr = err
		},
		ErrorLog: observe.ErrorLog(log),
	}
	return f
}

// ServeHTTP proxies r. Failures are returned as problems (400, 413, 502,
// 503, 504), never written here.
func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	info := reqinfo.From(r.Context())
	if info.Uncounted {
		// A request let past the rate limits because it was to be answered
		// from stored state must never cost the upstream anything.
		return problem.Internal(errUncounted)
	}
	info.Upstream = f.up.Name
	if f.tunnel != nil && isWebSocketUpgrade(r) {
		return f.serveUpgrade(w, r, info)
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	if err := f.exchange(ctx, w, r, info); err != nil {
		info.UpstreamErr = err
		return classify(r.Context(), err)
	}
	return nil
}

// methodOverrideParam is the query parameter frameworks (Rails, Laravel,
// Symfony, method-override middleware) read as the method.
const methodOverrideParam = "_method"

// rewrite finishes the outbound request, whose header holds only what the
// client may send (hop-by-hop fields, those named in Connection and those
// the policy strips are gone), so every header set here reaches the
// upstream as set: what the gateway vouches for.
func (f *Forwarder) rewrite(in, out *http.Request, info *reqinfo.Info) {
	h := out.Header
	if f.route.AllowTrailers && len(in.Trailer) > 0 {
		// The live map, not ReverseProxy's copy: the server fills it when
		// the body ends, which is before the transport writes the
		// trailers. Trailers need a body of unknown length (chunked).
		out.Trailer = in.Trailer
		out.ContentLength = -1
	} else {
		out.Trailer = nil
	}
	out.URL.RawQuery = authn.StripQueryParam(out.URL.RawQuery, methodOverrideParam)
	if f.identity != nil {
		f.identity.Assert(out, info.Principal)
	}

	peer := info.Peer
	if !peer.IsValid() {
		peer = clientip.Peer(in.RemoteAddr)
	}
	xff := info.ClientIPString()
	if peer != info.ClientIP {
		xff = peer.String()
	}
	if f.resolver != nil && f.resolver.Trusted(peer) {
		if prior := f.resolver.PriorChain(in.Header); prior != "" {
			xff = prior + ", " + xff
		}
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	// One backing array for the five fields the gateway always sets; each
	// gets a full slice of it, so an append elsewhere cannot spill into the
	// next.
	vals := [...]string{xff, proto, in.Host, forwarded(info, in.Host, proto), info.ID}
	set := vals[:]
	h["X-Forwarded-For"] = set[0:1:1]
	h["X-Forwarded-Proto"] = set[1:2:2]
	h["X-Forwarded-Host"] = set[2:3:3]
	h["Forwarded"] = set[3:4:4]
	h[requestid.Header] = set[4:5:5]
	// The gateway's span, when tracing is on (a sampled attempt replaces
	// it with its own); with tracing off nothing, the client's copy being
	// stripped above.
	propagation.TraceContext{}.Inject(out.Context(), propagation.HeaderCarrier(h))
	if _, upgrade := h["Upgrade"]; upgrade && (f.tunnel == nil || !isWebSocketUpgrade(in)) {
		dropUpgrade(h)
	}
	delete(h, "Http2-Settings") // only meaningful with an h2c upgrade, never forwarded
	if !f.up.preserveHost {
		out.Host = "" // the transport then sends the target's host
	}
}

// forwarded builds an RFC 7239 element from what the gateway verified.
func forwarded(info *reqinfo.Info, host, proto string) string {
	client := "unknown"
	if info.ClientIP.IsValid() {
		client = info.ClientIPString()
	}
	okHost := host != "" && validForwardedHost(host)
	var b strings.Builder
	b.Grow(len("for=\"[]\";host=\"\";proto=") + len(client) + len(host) + len(proto))
	b.WriteString("for=")
	if info.ClientIP.Is6() {
		b.WriteString(`"[`)
		b.WriteString(client)
		b.WriteString(`]"`)
	} else {
		b.WriteString(client)
	}
	if okHost {
		b.WriteString(`;host="`)
		b.WriteString(host)
		b.WriteByte('"')
	}
	b.WriteString(";proto=")
	b.WriteString(proto)
	return b.String()
}

func validForwardedHost(h string) bool {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c == '"' || c == '\\' || c >= 0x7f {
			return false
		}
	}
	return true
}

// modifyResponse checks and cleans an upstream response before any of it
// reaches the client. An error ends the exchange with a 502 problem.
func (f *Forwarder) modifyResponse(resp *http.Response) error {
	if resp.StatusCode == http.StatusSwitchingProtocols && resp.Request != nil && resp.Request.Header.Get("Upgrade") == "" {
		return errUnrequestedSwitch
	}
	if err := f.headers.checkResponse(resp.Header); err != nil {
		return err
	}
	if f.route.MaskUpstreamErrors && resp.StatusCode >= 500 {
		return maskedError{resp.StatusCode}
	}
	f.headers.stripResponse(resp.Header)
	rewriteLocations(resp.Header, f.origins)
	resp.Header["X-Content-Type-Options"] = []string{"nosniff"}
	// The route's response stages see the cleaned response, in response
	// phase order (signing last, over exactly what the client gets).
	for _, s := range f.responseStages {
		if err := s.OnResponse(resp, resp.Request); err != nil {
			return responseStageError{stage: s.Name(), err: err}
		}
	}
	return nil
}

// responseStageError is a response stage's refusal: the response it
// carries (a problem) replaces the upstream's, whose body is never relayed.
type responseStageError struct {
	stage string
	err   error
}

func (e responseStageError) Error() string { return "response stage " + e.stage + ": " + e.err.Error() }
func (e responseStageError) Unwrap() error { return e.err }

// errUncounted is a request marked to be answered from stored state that
// reached the forwarder.
var errUncounted = errors.New("a request not counted by the rate limits reached the forwarder")

// errUnrequestedSwitch is an upstream switching protocols on a request that
// asked for no upgrade (the gateway removed it): no tunnel is opened.
var errUnrequestedSwitch = errors.New("upstream switched protocols although no upgrade was forwarded")

// maskedError is an upstream 5xx answer replaced by the gateway's 502
// (upstream_errors: mask); its body is never read.
type maskedError struct{ status int }

func (e maskedError) Error() string {
	return "upstream answered " + strconv.Itoa(e.status) + " (body masked)"
}

// errClientGone marks a request the client abandoned; it is logged with
// status 499 and nothing is sent.
type clientGoneError struct{ cause error }

func (e clientGoneError) Error() string   { return "client closed the request: " + e.cause.Error() }
func (e clientGoneError) Unwrap() error   { return e.cause }
func (e clientGoneError) StatusCode() int { return 499 }

func classify(clientCtx context.Context, err error) error {
	var mbe *http.MaxBytesError
	var ne net.Error
	var cbe clientBodyError
	var ire invalidRequestError
	var rse responseStageError
	var ose outboundStageError
	var pe *problem.Error
	switch {
	case errors.As(err, &rse) && errors.As(rse.err, &pe):
		return pe
	case errors.As(err, &rse):
		return problem.BadGateway(err)
	case errors.As(err, &ose):
		return problem.Internal(err)
	case errors.As(err, &mbe):
		return problem.PayloadTooLarge(mbe.Limit).WithCause(err)
	case clientCtx.Err() != nil:
		return clientGoneError{err}
	case errors.As(err, &cbe):
		return problem.BadRequest("unreadable-body", "The request body could not be read.").WithCause(err)
	case errors.As(err, &ire):
		return problem.BadRequest("invalid-request", "The request's method or a header field cannot be forwarded.").WithCause(err)
	case errors.Is(err, ErrNoHealthyTarget):
		return problem.Unavailable("no-healthy-upstream", "No healthy upstream target is available.", 5*time.Second, err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return problem.GatewayTimeout(err)
	}
	return problem.BadGateway(err)
}
