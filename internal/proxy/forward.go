package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/clientip"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/requestid"
)

// strippedResponseHeaders reveal the backend's software and are removed
// from every upstream response.
var strippedResponseHeaders = []string{"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version"}

// bufferPool reuses copy buffers across responses.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte  { return *(b.p.Get().(*[]byte)) }
func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

var buffers = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

// Forwarder forwards requests to one upstream. It is the last handler of a
// route's chain.
type Forwarder struct {
	up       *Upstream
	rp       *httputil.ReverseProxy
	timeout  time.Duration
	resolver *clientip.Resolver
}

var _ pipeline.Handler = (*Forwarder)(nil)

// NewForwarder returns the handler that proxies to up with an overall
// per-request timeout.
func NewForwarder(up *Upstream, timeout time.Duration, resolver *clientip.Resolver, log *slog.Logger) *Forwarder {
	f := &Forwarder{up: up, timeout: timeout, resolver: resolver}
	f.rp = &httputil.ReverseProxy{
		Rewrite:    f.rewrite,
		Transport:  up,
		BufferPool: buffers,
		// 0: responses are buffered, except that ReverseProxy flushes every
		// write of streaming responses (text/event-stream, unknown length).
		FlushInterval:  0,
		ModifyResponse: modifyResponse,
		// The error goes back to ServeHTTP through the request's Info, so it
		// is returned as a problem, never written by the proxy.
		ErrorHandler: func(_ http.ResponseWriter, r *http.Request, err error) {
			reqinfo.From(r.Context()).UpstreamErr = err
		},
		ErrorLog: observe.ErrorLog(log),
	}
	return f
}

// ServeHTTP proxies r. Failures are returned as problems (502, 503, 504,
// 413), never written here.
func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	info := reqinfo.From(ctx)
	info.Upstream = f.up.Name
	f.rp.ServeHTTP(w, r.WithContext(ctx))
	if err := info.UpstreamErr; err != nil {
		return classify(r.Context(), err)
	}
	return nil
}

func (f *Forwarder) rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	info := reqinfo.From(in.Context())
	h := out.Header

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
	h["X-Forwarded-For"] = []string{xff}
	h["X-Forwarded-Proto"] = []string{proto}
	h["X-Forwarded-Host"] = []string{in.Host}
	h["Forwarded"] = []string{forwarded(info, in.Host, proto)}
	h[requestid.Header] = []string{info.ID}
	if !f.up.preserveHost {
		out.Host = "" // the transport then sends the target's host
	}
}

// forwarded builds an RFC 7239 element from what the gateway verified.
func forwarded(info *reqinfo.Info, host, proto string) string {
	var b strings.Builder
	b.Grow(64)
	b.WriteString("for=")
	switch client := info.ClientIP; {
	case !client.IsValid():
		b.WriteString("unknown")
	case client.Is6():
		b.WriteString(`"[` + info.ClientIPString() + `]"`)
	default:
		b.WriteString(info.ClientIPString())
	}
	if host != "" && validForwardedHost(host) {
		b.WriteString(";host=\"" + host + "\"")
	}
	b.WriteString(";proto=" + proto)
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

func modifyResponse(resp *http.Response) error {
	for _, k := range strippedResponseHeaders {
		delete(resp.Header, k)
	}
	resp.Header["X-Content-Type-Options"] = []string{"nosniff"}
	return nil
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
	switch {
	case errors.As(err, &mbe):
		return problem.PayloadTooLarge(mbe.Limit).WithCause(err)
	case clientCtx.Err() != nil:
		return clientGoneError{err}
	case errors.Is(err, ErrNoHealthyTarget):
		return problem.Unavailable("no-healthy-upstream", "No healthy upstream target is available.", err).WithHeader("Retry-After", "5")
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return problem.GatewayTimeout(err)
	}
	return problem.BadGateway(err)
}
