// Package requestid owns the X-Request-Id of every request: it keeps an id
// only when a trusted proxy sent it and it is short and safe, and
// generates one otherwise (package reqinfo carries it on the request
// context).
package requestid

import (
	"crypto/rand"
	"encoding/base32"
	"net/http"
)

// Header is the request and response header carrying the id.
const Header = "X-Request-Id"

// MaxLen is the longest received id that is kept.
const MaxLen = 64

// encoding is lowercase base32 without padding: safe in headers, logs and
// URLs without escaping.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// New returns a fresh random id (80 bits, 16 characters).
func New() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return encoding.EncodeToString(b[:])
}

// Valid reports whether a client-supplied id may be kept as is: 1 to 64
// characters from [A-Za-z0-9._-], so it can never inject into a log line or
// a header.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// FromRequest returns the request's id: the one a trusted proxy in front
// of the gateway sent (fromTrustedProxy: the peer is in trusted_proxies),
// if it is valid, else a new one. Anyone else's id is replaced, so a client
// cannot choose the id that correlates its requests in logs and upstreams.
// Several X-Request-Id headers are treated as invalid.
func FromRequest(r *http.Request, fromTrustedProxy bool) string {
	vals := r.Header[Header]
	if fromTrustedProxy && len(vals) == 1 && Valid(vals[0]) {
		return vals[0]
	}
	return New()
}
