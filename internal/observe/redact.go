package observe

import (
	"net/http"
	"strings"
)

// Redacted replaces every value the logs must never hold in clear.
const Redacted = "[REDACTED]"

// alwaysRedacted headers carry credentials or session state.
var alwaysRedacted = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "Dpop"}

// Redactor decides which header values may be logged.
type Redactor struct {
	sensitive map[string]bool
}

// NewRedactor returns a Redactor for the built-in sensitive headers plus extra.
func NewRedactor(extra []string) *Redactor {
	r := &Redactor{sensitive: map[string]bool{}}
	for _, h := range alwaysRedacted {
		r.sensitive[http.CanonicalHeaderKey(h)] = true
	}
	for _, h := range extra {
		r.sensitive[http.CanonicalHeaderKey(h)] = true
	}
	return r
}

// Sensitive reports whether header name must be redacted.
func (r *Redactor) Sensitive(name string) bool { return r.sensitive[http.CanonicalHeaderKey(name)] }

// HeaderValue returns the loggable value of header name.
func (r *Redactor) HeaderValue(name, value string) string {
	if r.Sensitive(name) {
		return Redacted
	}
	return RedactPAN(value)
}

// Query returns a raw query with every value replaced, keeping parameter
// names so the shape of the request stays visible: "a=1&b=2" becomes
// "a=[REDACTED]&b=[REDACTED]".
func Query(raw string) string {
	if raw == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(raw) + 8)
	for i, part := range strings.Split(raw, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		name, _, hasValue := strings.Cut(part, "=")
		b.WriteString(RedactPAN(name))
		if hasValue {
			b.WriteString("=" + Redacted)
		}
	}
	return b.String()
}
