// Package problem owns every error response the gateway writes: RFC 9457
// application/problem+json bodies built from errors that carry their status,
// so no other package writes an error body or leaks an internal error to a
// client.
package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/internal/reqinfo"
)

// TypeBase prefixes every problem type; each type is documented in
// docs/problems.md (or the page of the feature that returns it).
const TypeBase = "https://portcullis.dev/problems/"

// ContentType is the media type of problem bodies.
const ContentType = "application/problem+json"

// StatusCoder is implemented by errors that know their HTTP status.
type StatusCoder interface{ StatusCode() int }

// Error is an error with everything needed for a client response. Cause is
// for the log only and never reaches the client.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Type is the last segment of the problem type URI (e.g. "not-found").
	Type string
	// Title is a short, fixed, human-readable summary.
	Title string
	// Detail is an optional client-safe explanation. It must never contain
	// credentials or internal error text.
	Detail string
	// Header holds extra response headers (Allow, WWW-Authenticate, Retry-After).
	Header http.Header
	// Extensions are extra client-safe members of the body.
	Extensions map[string]any
	// Cause is the internal error, logged with the request id.
	Cause error
}

// Error implements error. It includes the cause, so it is for logs only.
func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %v", e.Title, e.Cause)
	}
	if e.Detail != "" {
		return e.Title + ": " + e.Detail
	}
	return e.Title
}

// StatusCode implements StatusCoder.
func (e *Error) StatusCode() int { return e.Status }

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// WithHeader returns e with header k set to v.
func (e *Error) WithHeader(k, v string) *Error {
	if e.Header == nil {
		e.Header = http.Header{}
	}
	e.Header.Set(k, v)
	return e
}

// WithCause returns e with the internal cause set.
func (e *Error) WithCause(err error) *Error {
	e.Cause = err
	return e
}

// New returns a problem with the given status, type slug, title and detail.
func New(status int, typ, title, detail string) *Error {
	return &Error{Status: status, Type: typ, Title: title, Detail: detail}
}

// Common problems. Each call returns a fresh value the caller may decorate.

// BadRequest is a 400 for a malformed request.
func BadRequest(typ, detail string) *Error {
	return New(http.StatusBadRequest, typ, "Bad Request", detail)
}

// NotFound is a 404 for a request no route matches.
func NotFound() *Error {
	return New(http.StatusNotFound, "not-found", "Not Found", "No route matches this request.")
}

// MethodNotAllowed is a 405 listing the allowed methods.
func MethodNotAllowed(allow string) *Error {
	return New(http.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed",
		"The route does not accept this method.").WithHeader("Allow", allow)
}

// PayloadTooLarge is a 413 for a request body over the route's limit.
func PayloadTooLarge(limit int64) *Error {
	return New(http.StatusRequestEntityTooLarge, "payload-too-large", "Content Too Large",
		"The request body exceeds the limit of "+strconv.FormatInt(limit, 10)+" bytes.")
}

// BadGateway is a 502 for an upstream that failed.
func BadGateway(cause error) *Error {
	return New(http.StatusBadGateway, "bad-gateway", "Bad Gateway",
		"The upstream service could not be reached or sent an invalid response.").WithCause(cause)
}

// GatewayTimeout is a 504 for an upstream that did not answer in time.
func GatewayTimeout(cause error) *Error {
	return New(http.StatusGatewayTimeout, "gateway-timeout", "Gateway Timeout",
		"The upstream service did not answer in time.").WithCause(cause)
}

// Unavailable is a 503 for a dependency that is down, with Retry-After:
// the whole seconds of retryAfter, at least 1 (RFC 9110 §10.2.3), so a
// client backs off instead of retrying at once.
func Unavailable(typ, detail string, retryAfter time.Duration, cause error) *Error {
	return New(http.StatusServiceUnavailable, typ, "Service Unavailable", detail).WithCause(cause).
		WithHeader("Retry-After", RetryAfterSeconds(retryAfter))
}

// RetryAfterSeconds is d as a Retry-After value: whole seconds, rounded up,
// at least 1.
func RetryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(int64((d+time.Second-1)/time.Second), 1), 10)
}

// DefaultRetryAfter is the Retry-After of a 503 whose maker named none.
const DefaultRetryAfter = 5 * time.Second

// Internal is a 500 that hides its cause.
func Internal(cause error) *Error {
	return New(http.StatusInternalServerError, "internal", "Internal Server Error",
		"The gateway could not complete the request.").WithCause(cause)
}

// From converts any error into a problem: an *Error is returned as is, an
// error with a StatusCode gets a generic body for that status, anything else
// becomes a 500. The original error is kept as the cause.
func From(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	var sc StatusCoder
	if errors.As(err, &sc) {
		status := sc.StatusCode()
		if status < 400 || status > 599 {
			status = http.StatusInternalServerError
		}
		return &Error{Status: status, Type: "about:blank", Title: http.StatusText(status), Cause: err}
	}
	return Internal(err)
}

type body struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Write writes err to w as a problem response and records its cause on the
// request's Info for the access log.
func Write(w http.ResponseWriter, r *http.Request, err error) {
	p := From(err)
	info := reqinfo.From(r.Context())
	if info.Err == nil {
		info.Err = err
	}
	h := w.Header()
	for k, vs := range p.Header {
		h[k] = vs
	}
	if p.Status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		// Every 503 tells the client when to come back.
		h.Set("Retry-After", RetryAfterSeconds(DefaultRetryAfter))
	}
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(p.Status)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(Body(p, info.ID))
}

// Body returns the JSON body of p for request id.
func Body(p *Error, requestID string) []byte {
	typ := p.Type
	if typ != "about:blank" {
		typ = TypeBase + typ
	}
	b := body{Type: typ, Title: p.Title, Status: p.Status, Detail: p.Detail, RequestID: requestID}
	if len(p.Extensions) == 0 {
		out, _ := json.Marshal(b)
		return append(out, '\n')
	}
	m := map[string]any{}
	for k, v := range p.Extensions {
		m[k] = v
	}
	m["type"], m["title"], m["status"] = b.Type, b.Title, b.Status
	if b.Detail != "" {
		m["detail"] = b.Detail
	}
	if requestID != "" {
		m["request_id"] = requestID
	}
	out, _ := json.Marshal(m)
	return append(out, '\n')
}
