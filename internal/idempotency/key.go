// Package idempotency owns the Idempotency-Key request header
// (draft-ietf-httpapi-idempotency-key-header): the parser of its value and
// its enforcement on a route. A request with a key is forwarded once per
// consumer and key; the upstream's answer is stored in the shared store
// (package sharedstate) and replayed to retries with the same fingerprint,
// without calling the upstream. Two stages do it: Lookup, before the rate
// limits (so that a replay is not counted), and Enforce, last before the
// forwarder, which also captures the response. A key whose request may
// have reached the upstream without a known outcome stays "in doubt" and
// is never forwarded again until its TTL or an operator resolves it
// (Admin).
package idempotency

import (
	"errors"

	"github.com/dunglas/httpsfv"
)

// Header is the field name.
const Header = "Idempotency-Key"

// DefaultMaxLen is the default bound on a key, in bytes (Stripe's limit).
const DefaultMaxLen = 255

var (
	// ErrMissing: no Idempotency-Key field.
	ErrMissing = errors.New("idempotency: no Idempotency-Key")
	// ErrMultiple: the field occurs more than once; which key would be
	// meant is ambiguous, so neither is taken.
	ErrMultiple = errors.New("idempotency: Idempotency-Key repeated")
	// ErrEmpty: the key is empty.
	ErrEmpty = errors.New("idempotency: empty Idempotency-Key")
	// ErrTooLong: the key exceeds the bound.
	ErrTooLong = errors.New("idempotency: Idempotency-Key too long")
	// ErrMalformed: neither a Structured Field String nor a token of
	// safe characters (control characters, spaces, non-ASCII...).
	ErrMalformed = errors.New("idempotency: malformed Idempotency-Key")
)

// ParseKey returns the key carried by the Idempotency-Key field lines.
// The draft makes the value a Structured Field String ("8e03978e-40d5"),
// and it is parsed as one, parameters ignored as RFC 9651 requires; many
// clients (Stripe-style) send the bare key instead, which is accepted when
// it consists only of ASCII letters, digits and "-_.:~+/=" (UUIDs, ULIDs,
// base64). Both forms of one key yield the same string. maxLen bounds the
// key in bytes; zero or less means DefaultMaxLen.
func ParseKey(lines []string, maxLen int) (string, error) {
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	switch len(lines) {
	case 0:
		return "", ErrMissing
	case 1:
	default:
		return "", ErrMultiple
	}
	v := trimOWS(lines[0])
	if v == "" {
		return "", ErrEmpty
	}
	// Escapes at most double a quoted key; anything longer is refused
	// before it is parsed.
	if len(v) > 2*maxLen+2+maxParamsBytes {
		return "", ErrTooLong
	}
	var key string
	if v[0] == '"' {
		it, err := httpsfv.UnmarshalItem([]string{v})
		if err != nil {
			return "", ErrMalformed
		}
		s, ok := it.Value.(string)
		if !ok {
			return "", ErrMalformed
		}
		key = s
	} else {
		for i := 0; i < len(v); i++ {
			if !isSafe(v[i]) {
				return "", ErrMalformed
			}
		}
		key = v
	}
	switch {
	case key == "":
		return "", ErrEmpty
	case len(key) > maxLen:
		return "", ErrTooLong
	}
	return key, nil
}

// maxParamsBytes is the room left for Structured Field parameters after a
// quoted key.
const maxParamsBytes = 64

func isSafe(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', ':', '~', '+', '/', '=':
		return true
	}
	return false
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
