package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// RoundTrip sends the outbound request to a target chosen round-robin,
// retrying another target when connecting fails (idempotent methods without
// a body only), and feeds outlier detection with the outcomes the target
// caused (see upstreamFault). It sets the URL's scheme, host and path per
// attempt, so targets may differ in scheme and base path.
func (u *Upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	info, _ := reqinfo.Lookup(req.Context())
	path := req.URL.Path
	if info != nil && info.Path != "" {
		path = info.Path
	}
	retryable := idempotent(req.Method) && (req.Body == nil || req.Body == http.NoBody)
	var body *clientBody
	if req.Body != nil && req.Body != http.NoBody {
		body = newClientBody(req.Body, req.ContentLength)
		req.Body = body
	}
	var tried *Target
	var lastErr error
	for attempt := 0; ; attempt++ {
		now := u.now()
		t := u.pick(now, tried)
		if t == nil {
			if lastErr != nil {
				// A retry found no other target: the client is answered
				// with why the one tried failed (502, cause logged), not
				// that none was left (503).
				return nil, lastErr
			}
			return nil, ErrNoHealthyTarget
		}
		out := req
		if attempt > 0 {
			out = req.Clone(req.Context())
		}
		out.URL.Scheme = t.URL.Scheme
		out.URL.Host = t.URL.Host
		out.URL.Path = t.basePath + path
		out.URL.RawPath = ""
		// The outbound stages (signing) see the request exactly as this
		// attempt sends it: the target's authority and path included.
		if err := runOutbound(out); err != nil {
			return nil, err
		}
		span := u.startSpan(out, t, attempt)
		start := time.Now()
		resp, err := u.transport.RoundTrip(out)
		if info != nil {
			info.UpstreamLatency = time.Since(start)
		}
		endSpan(span, resp, err)
		if err == nil {
			switch resp.StatusCode {
			case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
				u.record(t, now, true)
			default:
				u.record(t, now, false)
			}
			return resp, nil
		}
		if invalid := validOutbound(out); invalid != nil {
			// The transport refused to send the request at all: no target
			// was involved. Checked only now, the request path pays nothing.
			return nil, invalid
		}
		if upstreamFault(req.Context(), err, body) {
			u.record(t, now, true)
		}
		if !retryable || attempt >= u.retries || !connectFailure(err) {
			return nil, err
		}
		tried, lastErr = t, err
	}
}

// outboundKey carries a route's outbound stages on the request context:
// the Upstream is shared by routes, the stages are the route's.
type outboundKey struct{}

func withOutbound(ctx context.Context, stages []pipeline.OutboundStage) context.Context {
	if len(stages) == 0 {
		return ctx
	}
	return context.WithValue(ctx, outboundKey{}, stages)
}

func runOutbound(out *http.Request) error {
	stages, _ := out.Context().Value(outboundKey{}).([]pipeline.OutboundStage)
	for _, s := range stages {
		if err := s.OnOutbound(out); err != nil {
			return outboundStageError{stage: s.Name(), err: err}
		}
	}
	return nil
}

func idempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// connectFailure reports whether err happened before the request could have
// reached the upstream (dial or TLS handshake), so a retry cannot repeat it.
func connectFailure(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return false
}
