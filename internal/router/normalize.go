package router

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ErrInvalidPath is returned for a request path that is malformed or could
// escape a route: dot-segments, encoded slashes or backslashes, double
// encoding of those, control characters, bytes that are not UTF-8
// (including overlong forms such as %c0%ae for "."). Such requests are
// rejected, never forwarded.
var ErrInvalidPath = errors.New("invalid request path")

// Normalize returns the canonical, decoded form of an escaped request path:
// repeated slashes collapsed, percent-encoding decoded. It rejects any path
// whose meaning a backend could read differently from the gateway (a
// dot-segment, "..;", an encoded "/" or "\", a double-encoded one, a NUL or
// control character, invalid or overlong UTF-8, which a lenient decoder in
// a backend can turn into "." or "/"). The result is what routes match and
// what the upstream receives, so the gateway and the backend always agree
// on the path.
func Normalize(escaped string) (string, error) {
	if len(escaped) == 0 || escaped[0] != '/' {
		return "", ErrInvalidPath
	}
	if clean(escaped) {
		return escaped, nil
	}
	var b strings.Builder
	b.Grow(len(escaped))
	rest := escaped[1:]
	for {
		seg, tail, more := strings.Cut(rest, "/")
		if seg != "" {
			dec, err := decodeSegment(seg)
			if err != nil {
				return "", err
			}
			b.WriteByte('/')
			b.WriteString(dec)
		}
		if !more {
			if seg == "" && len(escaped) > 1 {
				b.WriteByte('/') // trailing slash is significant
			}
			break
		}
		rest = tail
	}
	if b.Len() == 0 {
		return "/", nil
	}
	return b.String(), nil
}

// clean reports whether p needs no work: ASCII only, no escapes, no empty
// or dot segments, no backslash, semicolon or control byte.
func clean(p string) bool {
	prev := byte('/')
	for i := 1; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%', c == '\\', c == ';', c < 0x21, c >= 0x7f:
			return false
		case c == '/' && prev == '/':
			return false
		case c == '.' && prev == '/':
			return false
		}
		prev = c
	}
	return true
}

func decodeSegment(seg string) (string, error) {
	dec, err := url.PathUnescape(seg)
	if err != nil || !utf8.ValidString(dec) {
		return "", ErrInvalidPath
	}
	for i := 0; i < len(dec); i++ {
		if c := dec[i]; c < 0x20 || c == 0x7f || c == '/' || c == '\\' {
			return "", ErrInvalidPath
		}
	}
	// "..;x" is ".." to Tomcat-style backends that strip path parameters.
	head, _, _ := strings.Cut(dec, ";")
	if head == "." || head == ".." {
		return "", ErrInvalidPath
	}
	// Double encoding: a second decode by the backend must not produce a
	// separator or a dot-segment.
	if strings.Contains(dec, "%") {
		lower := strings.ToLower(dec)
		for _, bad := range []string{"%2e", "%2f", "%5c", "%00", "%25"} {
			if strings.Contains(lower, bad) {
				return "", ErrInvalidPath
			}
		}
	}
	return dec, nil
}
