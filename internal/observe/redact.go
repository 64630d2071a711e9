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

// RedactPAN masks anything that looks like a payment card number (13 to 19
// digits, optionally separated by single spaces or dashes, passing the Luhn
// check) keeping only the last four digits, as PCI DSS allows.
func RedactPAN(s string) string {
	if !hasDigitRun(s, 13) {
		return s
	}
	b := []byte(s)
	for i := 0; i < len(b); {
		if !isDigit(b[i]) || i > 0 && isDigit(b[i-1]) {
			i++
			continue
		}
		// Collect a run of digits with single separators.
		var idx []int
		j := i
		for j < len(b) {
			if isDigit(b[j]) {
				idx = append(idx, j)
				j++
				continue
			}
			if (b[j] == ' ' || b[j] == '-') && j+1 < len(b) && isDigit(b[j+1]) && len(idx) > 0 {
				j++
				continue
			}
			break
		}
		if n := len(idx); n >= 13 && n <= 19 && luhn(b, idx) {
			for _, k := range idx[:n-4] {
				b[k] = '*'
			}
		}
		i = j
	}
	return string(b)
}

func hasDigitRun(s string, n int) bool {
	digits := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			digits++
			if digits >= n {
				return true
			}
		} else if s[i] != ' ' && s[i] != '-' {
			digits = 0
		}
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func luhn(b []byte, idx []int) bool {
	sum := 0
	double := false
	for k := len(idx) - 1; k >= 0; k-- {
		d := int(b[idx[k]] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
