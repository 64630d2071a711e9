package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"

	"golang.org/x/net/http/httpguts"
)

// Who caused a failed attempt decides whether it counts against the
// target. Only what the target caused does: it could not be reached, reset
// or stalled, or broke the protocol (and, in RoundTrip, answered 502, 503
// or 504). What the client caused never does, whatever the transport makes
// of it:
//   - its request is one the transport refuses to send (invalidRequestError,
//     recognised after the transport failed);
//   - its body ended early, broke off or crossed the route's limit (every
//     error out of the outbound body is a clientBodyError);
//   - it went away (its context was canceled), or the route timeout struck
//     before the upstream had the whole request (a client sending its body
//     slowly).

// upstreamFault reports whether a transport error on an attempt counts
// against the target. ctx is the attempt's context; body is the outbound
// body (nil when there is none).
func upstreamFault(ctx context.Context, err error, body *clientBody) bool {
	var cbe clientBodyError
	switch {
	case errors.As(err, &cbe):
		return false
	case ctx.Err() != nil:
		return context.Cause(ctx) == context.DeadlineExceeded && body.complete()
	}
	return true
}

// clientBody is the client's request body as the transport reads it. Its
// errors come out as clientBodyError, so a transport failure caused by the
// client's body is recognisable whatever the transport wraps it in.
type clientBody struct {
	rc       io.ReadCloser
	declared int64 // Content-Length, -1 when unknown
	n        int64
	done     atomic.Bool // read to its end: the upstream has the whole request
}

func newClientBody(rc io.ReadCloser, declared int64) *clientBody {
	return &clientBody{rc: rc, declared: declared}
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF && b.declared > 0 && b.n < b.declared:
		// A body that ends short of its Content-Length is the client's
		// failure even where the reader beneath reports a clean end.
		return n, clientBodyError{io.ErrUnexpectedEOF}
	case err == io.EOF:
		b.done.Store(true)
	case err != nil:
		return n, clientBodyError{err}
	case b.declared >= 0 && b.n >= b.declared:
		b.done.Store(true)
	}
	return n, err
}

func (b *clientBody) Close() error { return b.rc.Close() }

// complete reports whether the whole body was handed to the transport (true
// for no body).
func (b *clientBody) complete() bool { return b == nil || b.done.Load() }

// clientBodyError is an error reading the client's request body.
type clientBodyError struct{ err error }

func (e clientBodyError) Error() string { return "reading the client's request body: " + e.err.Error() }
func (e clientBodyError) Unwrap() error { return e.err }

// invalidRequestError is a request net/http's transport refuses to send: a
// method that is not a token (an HTTP/2 ":method" of "GET X"), or a header
// or trailer it cannot write. It is answered 400 and counts against no
// target.
type invalidRequestError struct{ what string }

func (e invalidRequestError) Error() string { return "request cannot be forwarded: invalid " + e.what }

// validOutbound applies the transport's own checks (the same httpguts
// functions, which it runs before connecting) to a request it failed to
// send: when they fail, that refusal was the failure, and the request never
// left the gateway.
func validOutbound(req *http.Request) error {
	if req.Method != "" && !httpguts.ValidHeaderFieldName(req.Method) { // a token, like a field name; "" is GET
		return invalidRequestError{"method"}
	}
	if what := invalidFields(req.Header); what != "" {
		return invalidRequestError{"header " + what}
	}
	if what := invalidFields(req.Trailer); what != "" {
		return invalidRequestError{"trailer " + what}
	}
	return nil
}

// invalidFields names what is wrong in h ("" when nothing is). Values are
// never named: they may be secrets.
func invalidFields(h http.Header) string {
	for k, vv := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return "field name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return "field value"
			}
		}
	}
	return ""
}

// NeverSent reports whether a failed exchange provably never reached the
// upstream, so that repeating it cannot repeat its effect (idempotency
// keys are released only then): no target was available, the request was
// one the transport refuses to write, a stage refused the outbound request
// before it was sent, or the attempt failed while connecting (a dial
// error: no byte of the request was written). A timeout, a reset or any
// error after the connection was made is not: the upstream may have acted
// on the request. err is what the forwarder returned (its problem carries
// the proxy's error as its cause).
func NeverSent(err error) bool {
	var ire invalidRequestError
	var ose outboundStageError
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrNoHealthyTarget), errors.As(err, &ire), errors.As(err, &ose):
		return true
	}
	return connectFailure(err)
}

// outboundStageError is an outbound stage's refusal of an attempt (a
// request that could not be signed): the gateway's failure, and nothing
// was sent.
type outboundStageError struct {
	stage string
	err   error
}

func (e outboundStageError) Error() string { return "outbound stage " + e.stage + ": " + e.err.Error() }
func (e outboundStageError) Unwrap() error { return e.err }
