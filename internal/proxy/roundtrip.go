package proxy

import (
	"errors"
	"net"
	"net/http"
	"time"

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
