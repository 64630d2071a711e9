package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
)

// errTooManyInformational ends an exchange whose upstream sends more 1xx
// responses than the policy relays.
var errTooManyInformational = errors.New("upstream sent too many 1xx responses")

// informational relays one request's 1xx responses (100 Continue, 103
// Early Hints) to the client in place of ReverseProxy's own relay, which
// copies them unfiltered and without bound, and clears the whole response
// header map afterwards, losing the X-Request-Id and HSTS the gateway set
// before the proxy ran.
type informational struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	policy *HeaderPolicy
	n      int
	done   bool // the final response has arrived: never write again
}

type informationalKey struct{}

// informationalCtx carries a request's relay; one allocation where
// context.WithValue and the relay would be two. Done and Value of the
// parent are passed through, so contexts derived from it stay cheap.
type informationalCtx struct {
	context.Context
	in    informational
	trace httptrace.ClientTrace // the forwarder's own exchange: Got1xxResponse only
}

func (c *informationalCtx) Value(key any) any {
	if key == (informationalKey{}) {
		return &c.in
	}
	return c.Context.Value(key)
}

func withInformational(ctx context.Context, w http.ResponseWriter, p *HeaderPolicy) *informationalCtx {
	c := &informationalCtx{Context: ctx, in: informational{w: w, policy: p}}
	c.trace.Got1xxResponse = c.in.relay
	return c
}

// relay writes one 1xx response: the stripped upstream fields are in the
// header map for this write only, so the final response's map is what it
// was before.
func (in *informational) relay(code int, hdr textproto.MIMEHeader) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.done {
		return nil
	}
	in.n++
	if in.n > in.policy.maxInformational {
		return errTooManyInformational
	}
	fields := http.Header(hdr)
	if err := in.policy.checkResponse(fields); err != nil {
		return err
	}
	dropConnectionHeaders(fields)
	in.policy.stripResponse(fields)
	h := in.w.Header()
	type saved struct {
		vals    []string
		present bool
	}
	prev := make(map[string]saved, len(fields))
	for k, vs := range fields {
		old, ok := h[k]
		prev[k] = saved{old, ok}
		h[k] = vs
	}
	in.w.WriteHeader(code)
	for k, s := range prev {
		if s.present {
			h[k] = s.vals
		} else {
			delete(h, k)
		}
	}
	return nil
}

func (in *informational) finish() {
	in.mu.Lock()
	in.done = true
	in.mu.Unlock()
}

// hopByHop are connection-specific fields (RFC 9110 §7.6.1), never relayed
// in a response.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// removeHopByHop removes a response's connection-specific fields: those
// Connection names, then the fixed list.
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				delete(h, http.CanonicalHeaderKey(f))
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
}

// dropConnectionHeaders cleans a 1xx response, which frames no body.
func dropConnectionHeaders(h http.Header) {
	removeHopByHop(h)
	delete(h, "Content-Length")
}

// relayTransport puts the request's informational relay in place of the
// one ReverseProxy installed in the request's client trace (the trace is
// ReverseProxy's own, made per request, so it may be changed here, before
// the transport reads it).
type relayTransport struct{ next http.RoundTripper }

func (t relayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	in, _ := req.Context().Value(informationalKey{}).(*informational)
	if in == nil {
		return t.next.RoundTrip(req)
	}
	if tr := httptrace.ContextClientTrace(req.Context()); tr != nil {
		tr.Got1xxResponse = in.relay
	}
	resp, err := t.next.RoundTrip(req)
	in.finish()
	return resp, err
}
