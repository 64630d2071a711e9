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
// a body only), and feeds passive ejection. It sets the URL's scheme, host
// and path per attempt, so targets may differ in scheme and base path.
func (u *Upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	info, _ := reqinfo.Lookup(req.Context())
	path := req.URL.Path
	if info != nil && info.Path != "" {
		path = info.Path
	}
	retryable := idempotent(req.Method) && (req.Body == nil || req.Body == http.NoBody)
	var tried *Target
	for attempt := 0; ; attempt++ {
		now := u.now()
		t := u.pick(now, tried)
		if t == nil {
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
				u.failed(t, now)
			default:
				t.recordSuccess()
			}
			return resp, nil
		}
		if req.Context().Err() == nil {
			u.failed(t, now)
		}
		if !retryable || attempt >= u.retries || !connectFailure(err) {
			return nil, err
		}
		tried = t
	}
}

func (u *Upstream) failed(t *Target, now time.Time) {
	if t.recordFailure(now, u.ejectMax, u.ejectFor) {
		u.log.Warn("upstream target ejected", "upstream", u.Name, "target", t.URL.Host, "for", u.ejectFor.String())
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
