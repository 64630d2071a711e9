package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
)

// headerSet matches header names exactly or by prefix, in any case. It is
// compiled once per runtime, so a request costs a map lookup and a few
// prefix comparisons per header.
type headerSet struct {
	exact    map[string]struct{} // canonical names
	prefixes []string
}

func newHeaderSet(lists ...[]string) headerSet {
	s := headerSet{exact: map[string]struct{}{}}
	for _, list := range lists {
		for _, p := range list {
			if prefix, ok := strings.CutSuffix(p, "*"); ok {
				s.prefixes = append(s.prefixes, prefix)
			} else {
				s.exact[http.CanonicalHeaderKey(p)] = struct{}{}
			}
		}
	}
	return s
}

func (s headerSet) has(name string) bool {
	if _, ok := s.exact[http.CanonicalHeaderKey(name)]; ok {
		return true
	}
	for _, p := range s.prefixes {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return true
		}
	}
	return false
}

// gatewayOwnedResponse are response headers only the gateway sets: an
// upstream's copy would be sent next to the gateway's own value.
var gatewayOwnedResponse = []string{"X-Request-Id", "Strict-Transport-Security"}

// HeaderPolicy is what may cross the gateway in headers, compiled once per
// runtime from config.Headers. Its request side is applied to every
// outbound request, its response side to every upstream response, 1xx
// responses included.
type HeaderPolicy struct {
	request          headerSet
	response         headerSet
	maxFields        int
	maxBytes         int
	maxInformational int
}

// NewHeaderPolicy compiles h (defaults already applied).
func NewHeaderPolicy(h config.Headers) *HeaderPolicy {
	var respDefault []string
	for _, d := range config.DefaultResponseStrip {
		kept := false
		for _, k := range h.ResponseKeep {
			kept = kept || strings.EqualFold(d, k)
		}
		if !kept {
			respDefault = append(respDefault, d)
		}
	}
	p := &HeaderPolicy{
		request:          newHeaderSet(config.DefaultRequestStrip, h.RequestStrip),
		response:         newHeaderSet(respDefault, h.ResponseStrip, gatewayOwnedResponse),
		maxFields:        config.DefaultMaxResponseHeaders,
		maxBytes:         config.DefaultMaxResponseHeaderBytes,
		maxInformational: config.DefaultMaxInformationalResponses,
	}
	if h.MaxResponseHeaders != nil {
		p.maxFields = *h.MaxResponseHeaders
	}
	if h.MaxResponseHeaderBytes != nil {
		p.maxBytes = int(*h.MaxResponseHeaderBytes)
	}
	if h.MaxInformationalResponses != nil {
		p.maxInformational = *h.MaxInformationalResponses
	}
	return p
}

// defaultHeaderPolicy is used by forwarders built without one (tests).
var defaultHeaderPolicy = NewHeaderPolicy(config.Headers{})

// stripRequest removes from an outbound request's headers every name on
// the strip list and, unless allowUnderscore, every name containing "_"
// (CGI, WSGI and Rack turn "-" into "_", so X_Consumer_Id would reach the
// application as X-Consumer-Id).
func (p *HeaderPolicy) stripRequest(h http.Header, allowUnderscore bool) {
	for k := range h {
		if !allowUnderscore && strings.IndexByte(k, '_') >= 0 || p.request.has(k) {
			delete(h, k)
		}
	}
}

// stripResponse removes the response headers the policy forbids.
func (p *HeaderPolicy) stripResponse(h http.Header) {
	for k := range h {
		if p.response.has(k) {
			delete(h, k)
		}
	}
}

// errResponseHeaders is an upstream response over the header caps.
var errResponseHeaders = errors.New("upstream response headers over the configured limit")

// checkResponse enforces the caps on one upstream response's headers.
func (p *HeaderPolicy) checkResponse(h http.Header) error {
	fields, size := 0, 0
	for k, vs := range h {
		for _, v := range vs {
			fields++
			size += len(k) + len(v) + 4 // ": " and CRLF
		}
	}
	if fields > p.maxFields || size > p.maxBytes {
		return fmt.Errorf("%w: %d fields, %d bytes", errResponseHeaders, fields, size)
	}
	return nil
}
