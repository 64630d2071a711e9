package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis/portcullis/internal/clientip"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/requestid"
	"github.com/portcullis/portcullis/internal/secevent"
)

// Gateway serves requests through the current Runtime.
type Gateway struct {
	current atomic.Pointer[Runtime]
	access  *observe.AccessLog // nil when the access log is off
	metrics *observe.Metrics   // nil in tests that do not need it
	tracing *observe.Tracing   // nil when tracing is off
	log     *slog.Logger
}

// New returns a Gateway serving rt.
func New(rt *Runtime, access *observe.AccessLog, metrics *observe.Metrics, log *slog.Logger) *Gateway {
	g := &Gateway{access: access, metrics: metrics, log: log}
	g.current.Store(rt)
	return g
}

// SetTracing makes a span per request from now on (before serving).
func (g *Gateway) SetTracing(t *observe.Tracing) { g.tracing = t }

// Runtime returns the Runtime new requests are served by.
func (g *Gateway) Runtime() *Runtime { return g.current.Load() }

// Swap installs rt for new requests and returns the previous Runtime.
func (g *Gateway) Swap(rt *Runtime) *Runtime { return g.current.Swap(rt) }

// HSTSValue renders the Strict-Transport-Security header for a listener.
func HSTSValue(h config.HSTS) string {
	v := "max-age=" + strconv.FormatInt(int64(h.MaxAge.D()/time.Second), 10)
	if h.IncludeSubdomains != nil && *h.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	return v
}

// Handler returns the http.Handler for a listener. hsts is sent on every
// response when the listener is HTTPS; a request for a host outside the
// listener's server_names gets 421.
func (g *Gateway) Handler(l config.Listener) http.Handler {
	h := &listenerHandler{g: g, names: newServerNames(l.ServerNames)}
	if l.TLS != nil {
		h.hsts = []string{HSTSValue(l.HSTS)}
		h.tlsProfile = l.TLS.Profile
	}
	h.target = h.targetURI // once: a method value allocates
	return h
}

type listenerHandler struct {
	g          *Gateway
	hsts       []string
	names      *serverNames // nil: any host
	tlsProfile string       // "" for a plain-HTTP listener
	target     func(*http.Request) (string, error)
}

// errHostNotServed is a forwarded host outside the listener's
// server_names.
var errHostNotServed = errors.New("forwarded host is not one of the listener's server_names")

// targetURI is the request's target URI as the client sent it (see
// reqinfo.Info.Target): the connection's scheme and Host, or what a
// trusted proxy forwarded of them, the forwarded host held to the
// listener's server_names like the Host is before routing; and the path
// as received, never the normalised one.
func (h *listenerHandler) targetURI(r *http.Request) (string, error) {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if reqinfo.From(r.Context()).TrustedPeer {
		fs, fh, err := h.g.current.Load().resolver.Origin(r.Header)
		if err != nil {
			return "", err
		}
		if fs != "" {
			scheme = fs
		}
		if fh != "" {
			if h.names != nil && !h.names.match(requestHost(fh)) {
				return "", errHostNotServed
			}
			host = fh
		}
	}
	if host == "" {
		return "", errors.New("request has no host")
	}
	return scheme + "://" + host + r.URL.EscapedPath(), nil
}

func (h *listenerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := h.g
	rt := g.current.Load()
	peer := clientip.Peer(r.RemoteAddr)
	trusted := rt.resolver.Trusted(peer)
	info := &reqinfo.Info{ID: requestid.FromRequest(r, trusted), Start: time.Now(), Peer: peer, TrustedPeer: trusted,
		TLSProfile: h.tlsProfile, Target: h.target, Method: r.Method}
	info.ClientIP, _ = rt.resolver.ClientIPFrom(info.Peer, r.Header)
	if rt.certHeader != "" && !trusted {
		// Only a trusted proxy may say which certificate the client has.
		delete(r.Header, rt.certHeader)
	}

	hdr := w.Header()
	hdr[requestid.Header] = []string{info.ID}
	if h.hsts != nil {
		hdr["Strict-Transport-Security"] = h.hsts
	}
	rec := &recorder{ResponseWriter: w}
	var body *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{ReadCloser: r.Body}
		r.Body = body
	}
	ctx := r.Context()
	var span trace.Span
	if g.tracing != nil {
		ctx, span = g.tracing.Start(r)
	}
	sec := rt.security
	if sec != nil {
		ctx = secevent.With(ctx, sec)
	}
	r = r.WithContext(reqinfo.With(ctx, info))

	var err error
	if h.names != nil {
		if err = h.names.check(r); err != nil && sec != nil {
			secevent.Emit(r.Context(), secevent.Event{Type: secevent.RequestRefused, Status: http.StatusMisdirectedRequest,
				Reason: "misdirected-request"})
		}
	}
	if err == nil {
		err = g.serve(rt, rec, r, info)
	}
	if err != nil {
		if rec.status == 0 {
			problem.Write(rec, r, err)
		} else if info.Err == nil {
			info.Err = err
		}
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	status := rec.status
	var sc problem.StatusCoder
	if err != nil && errors.As(err, &sc) && sc.StatusCode() == 499 {
		status = 499
	}
	d := time.Since(info.Start)
	if g.access != nil {
		var in int64
		if body != nil {
			in = body.n
		}
		out := rec.bytes
		if t := rec.tunnel; t != nil {
			in, out = in+t.in.Load(), out+t.out.Load()
		}
		g.access.Log(r, info, observe.Entry{Status: status, BytesIn: in, BytesOut: out, Duration: d})
	}
	if g.metrics != nil {
		g.metrics.Observe(info.Route, r.Method, status, d, info.Upstream, info.UpstreamLatency)
	}
	if span != nil {
		g.tracing.End(span, r.Method, info, status)
	}
	if sec != nil {
		sec.Observe(observation(info, status))
	}
	if err == errAborted {
		panic(http.ErrAbortHandler) // after logging: net/http must still abort the stream
	}
}

// observation is what the security monitor's detectors of behaviour over
// time see of a finished request.
func observation(info *reqinfo.Info, status int) secevent.Event {
	ev := secevent.Event{Status: status, AuthFailed: status == http.StatusUnauthorized && info.AuthFailure != ""}
	secevent.Fill(&ev, info)
	if len(info.Params) > 0 {
		ev.Object = objectHash(info.Params)
	}
	return ev
}

// objectHash identifies the object a request asked for by its route
// parameters (FNV-1a of each name and value, combined regardless of map
// order), so distinct objects can be counted without keeping the values.
func objectHash(params map[string]string) uint64 {
	var out uint64
	for k, v := range params {
		h := uint64(14695981039346656037)
		for _, s := range [2]string{k, v} {
			for i := 0; i < len(s); i++ {
				h ^= uint64(s[i])
				h *= 1099511628211
			}
			h ^= 0xff
			h *= 1099511628211
		}
		out ^= h
	}
	if out == 0 {
		out = 1
	}
	return out
}

// errAborted marks a response aborted mid-body (the upstream failed after
// the headers were sent); the connection is cut so the client sees a broken
// response, never a truncated one that looks complete.
var errAborted = errors.New("response aborted: upstream failed mid-body")

// serve runs the runtime and turns a panic into a 500 (except
// http.ErrAbortHandler, which must keep aborting the connection).
func (g *Gateway) serve(rt *Runtime, w http.ResponseWriter, r *http.Request, info *reqinfo.Info) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				err = errAborted
				return
			}
			g.log.Error("panic serving request", "request_id", info.ID, "panic", fmt.Sprint(v))
			err = problem.Internal(fmt.Errorf("panic: %v", v))
		}
	}()
	return rt.serve(w, r, info)
}
