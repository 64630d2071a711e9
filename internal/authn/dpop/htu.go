package dpop

import (
	"errors"
	"strconv"
	"strings"
)

// maxURIBytes bounds a URI before it is normalised.
const maxURIBytes = 8 << 10

// NormalizeURI returns the normal form of an absolute http or https URI
// without its query and fragment, which is what htu is compared in: a
// proof and the request that differ only in how the same URI is spelled
// must match, and nothing else may.
//
// It applies RFC 3986 §6.2.2 (scheme and host lower-cased, percent-encoding
// in upper-case hex, unreserved characters decoded, dot segments removed)
// and §6.2.3 (the scheme's default port and an empty port dropped, an empty
// path made "/"). Bytes a URI may not hold raw (space, non-ASCII) are
// percent-encoded, as user agents send them. Refused: other schemes, no
// authority, userinfo (RFC 9110 §4.2.4), a malformed host or port, and a
// '%' not followed by two hex digits, whose meaning parsers disagree on.
//
// With dropQuery false a query or fragment is refused (a proof's htu never
// has them, RFC 9449 §4.2); with dropQuery true they are cut off (a
// request's URI).
func NormalizeURI(s string, dropQuery bool) (string, error) {
	if len(s) > maxURIBytes {
		return "", errors.New("URI too long")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "", errors.New("not an absolute URI with an authority")
	}
	scheme = strings.ToLower(scheme)
	var defaultPort string
	switch scheme {
	case "https":
		defaultPort = "443"
	case "http":
		defaultPort = "80"
	default:
		return "", errors.New("scheme is not http or https")
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, rest := rest[:end], rest[end:]
	path := rest
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		if !dropQuery {
			return "", errors.New("URI has a query or fragment")
		}
		path = rest[:i]
	}
	host, port, err := normalizeAuthority(authority)
	if err != nil {
		return "", err
	}
	p, err := normalizePath(path)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(scheme) + 3 + len(host) + 6 + len(p))
	b.WriteString(scheme)
	b.WriteString("://")
	b.WriteString(host)
	if port != "" && port != defaultPort {
		b.WriteByte(':')
		b.WriteString(port)
	}
	b.WriteString(p)
	if b.Len() > maxURIBytes {
		// Escaping grew it past the bound: what comes out must always be
		// a valid input (the two sides of a comparison are normalised).
		return "", errors.New("URI too long")
	}
	return b.String(), nil
}

// normalizeAuthority splits host[:port], lower-cases the host and gives the
// port without leading zeros ("" if absent or empty).
func normalizeAuthority(a string) (host, port string, err error) {
	if strings.IndexByte(a, '@') >= 0 {
		return "", "", errors.New("URI has userinfo")
	}
	hostPart, portPart := a, ""
	if strings.HasPrefix(a, "[") {
		i := strings.IndexByte(a, ']')
		if i < 0 {
			return "", "", errors.New("unterminated IP literal")
		}
		hostPart, portPart = a[:i+1], a[i+1:]
		if portPart != "" && portPart[0] != ':' {
			return "", "", errors.New("junk after IP literal")
		}
		for j := 1; j < i; j++ {
			if c := a[j]; !isHex(c) && c != ':' && c != '.' {
				return "", "", errors.New("malformed IP literal")
			}
		}
		hostPart = strings.ToLower(hostPart)
	} else {
		if i := strings.LastIndexByte(a, ':'); i >= 0 {
			hostPart, portPart = a[:i], a[i:]
		}
		if hostPart, err = normalizeRegName(hostPart); err != nil {
			return "", "", err
		}
	}
	if hostPart == "" || hostPart == "[]" {
		return "", "", errors.New("empty host")
	}
	if portPart != "" {
		digits := portPart[1:]
		if len(digits) > 0 {
			if len(digits) > 5 || strings.Trim(digits, "0123456789") != "" {
				return "", "", errors.New("malformed port")
			}
			n, _ := strconv.Atoi(digits)
			if n > 65535 {
				return "", "", errors.New("port out of range")
			}
			port = strconv.Itoa(n)
		}
	}
	return hostPart, port, nil
}

// normalizeRegName lower-cases a reg-name or IPv4 address, normalising its
// percent-encoding. Anything outside unreserved, sub-delims and
// pct-encoded is refused: a host is never lenient.
func normalizeRegName(h string) (string, error) {
	var b strings.Builder
	b.Grow(len(h))
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '%':
			d, ok := unhex(h, i)
			if !ok {
				return "", errors.New("malformed percent-encoding in host")
			}
			i += 2
			if isUnreserved(d) {
				b.WriteByte(lower(d))
			} else {
				writeEscaped(&b, d)
			}
		case isUnreserved(c) || isSubDelim(c):
			b.WriteByte(lower(c))
		default:
			return "", errors.New("malformed host")
		}
	}
	return b.String(), nil
}

// normalizePath normalises percent-encoding, encodes bytes a path may not
// hold raw, removes dot segments and makes an empty path "/".
func normalizePath(p string) (string, error) {
	var b strings.Builder
	b.Grow(len(p) + 1)
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%':
			d, ok := unhex(p, i)
			if !ok {
				return "", errors.New("malformed percent-encoding in path")
			}
			i += 2
			if isUnreserved(d) {
				b.WriteByte(d)
			} else {
				writeEscaped(&b, d)
			}
		case isUnreserved(c) || isSubDelim(c) || c == ':' || c == '@' || c == '/':
			b.WriteByte(c)
		default:
			writeEscaped(&b, c)
		}
	}
	out := removeDotSegments(b.String())
	if out == "" {
		out = "/"
	}
	return out, nil
}

// removeDotSegments is RFC 3986 §5.2.4 for a path that is empty or starts
// with "/" (an authority is always present here).
func removeDotSegments(in string) string {
	if !strings.Contains(in, ".") {
		return in
	}
	out := make([]string, 0, strings.Count(in, "/"))
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "/..":
			in = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "." || in == "..":
			in = ""
		default:
			j := strings.IndexByte(in[1:], '/')
			if j < 0 {
				out = append(out, in)
				in = ""
			} else {
				out = append(out, in[:j+1])
				in = in[j+1:]
			}
		}
	}
	return strings.Join(out, "")
}

func unhex(s string, i int) (byte, bool) {
	if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
		return 0, false
	}
	return hexVal(s[i+1])<<4 | hexVal(s[i+2]), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

func writeEscaped(b *strings.Builder, c byte) {
	const digits = "0123456789ABCDEF"
	b.WriteByte('%')
	b.WriteByte(digits[c>>4])
	b.WriteByte(digits[c&15])
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func isSubDelim(c byte) bool { return strings.IndexByte("!$&'()*+,;=", c) >= 0 }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
