package httpsig

import "net/http"

// Target is the request's target URI as the client addressed it. It is an
// explicit input because behind a load balancer or TLS terminator the
// gateway's own view (r.Host, r.TLS) is not what the client signed: the
// caller supplies the public scheme and authority it trusts.
type Target struct {
	// Scheme is "https" or "http" (any case).
	Scheme string
	// Authority is host[:port] as the client addressed it. @authority
	// and @target-uri lowercase the host and drop the scheme's default
	// port, as RFC 9421 Section 2.2.3 requires.
	Authority string
	// RequestTarget is the request-target exactly as received, before any
	// normalisation: origin-form "/path?query" (r.RequestURI), or the
	// asterisk, absolute or authority form. Only @request-target uses an
	// absolute form's own scheme and authority; the other components take
	// them from Scheme and Authority.
	RequestTarget string
}

// Request is a request as signed or verified.
type Request struct {
	Method  string
	Target  Target
	Header  http.Header
	Trailer http.Header
}

// Response is a response as signed or verified. Request, when set, is the
// request it answers, for components carrying the req parameter.
type Response struct {
	Status  int
	Header  http.Header
	Trailer http.Header
	Request *Request
}

// Message is a *Request or a *Response.
type Message interface {
	parts() (*Request, *Response)
}

func (r *Request) parts() (*Request, *Response)  { return r, nil }
func (r *Response) parts() (*Request, *Response) { return nil, r }

// IncomingRequest describes a request the gateway received. scheme and
// authority are the public origin the client used (from the listener's
// configuration or trusted forwarding headers, not r.Host blindly); the
// request-target is r.RequestURI, the raw form the client sent.
func IncomingRequest(r *http.Request, scheme, authority string) *Request {
	return &Request{
		Method:  r.Method,
		Target:  Target{Scheme: scheme, Authority: authority, RequestTarget: r.RequestURI},
		Header:  r.Header,
		Trailer: r.Trailer,
	}
}

// OutgoingRequest describes a request the gateway is about to send, as
// net/http will write it: r.Host (or r.URL.Host) as the authority and
// r.URL.RequestURI() as the request-target.
func OutgoingRequest(r *http.Request) *Request {
	authority := r.Host
	if authority == "" {
		authority = r.URL.Host
	}
	return &Request{
		Method:  r.Method,
		Target:  Target{Scheme: r.URL.Scheme, Authority: authority, RequestTarget: r.URL.RequestURI()},
		Header:  r.Header,
		Trailer: r.Trailer,
	}
}
