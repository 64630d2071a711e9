package httpsig

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// derivedValue computes a request-derived component (RFC 9421 Section
// 2.2) from r.
func derivedValue(c Component, r *Request) (string, error) {
	t := r.Target
	switch c.Name {
	case CompMethod:
		if !isToken(r.Method) {
			return "", compErr(c, "method is not a token")
		}
		return r.Method, nil
	case CompScheme:
		return normScheme(t.Scheme, c)
	case CompAuthority:
		s, err := normScheme(t.Scheme, c)
		if err != nil {
			return "", err
		}
		return normAuthority(s, t.Authority, c)
	case CompRequestTarget:
		if !isPrintableNoSpace(t.RequestTarget) {
			return "", compErr(c, "request-target is missing or not printable ASCII")
		}
		return t.RequestTarget, nil
	}
	path, query, hasQuery, err := splitTarget(t.RequestTarget, c)
	if err != nil {
		return "", err
	}
	switch c.Name {
	case CompPath:
		return path, nil
	case CompQuery:
		return "?" + query, nil
	case CompQueryParam:
		return queryParam(query, c)
	case CompTargetURI:
		s, err := normScheme(t.Scheme, c)
		if err != nil {
			return "", err
		}
		a, err := normAuthority(s, t.Authority, c)
		if err != nil {
			return "", err
		}
		u := s + "://" + a
		if t.RequestTarget != "*" {
			u += path
			if hasQuery {
				u += "?" + query
			}
		}
		return u, nil
	}
	return "", newErr(ErrUnsupported, "", "unknown derived component "+sanitize(c.Name))
}

func compErr(c Component, detail string) *Error {
	return newErr(ErrComponent, "", sanitize(c.ident)+": "+detail)
}

func normScheme(s string, c Component) (string, error) {
	s = strings.ToLower(s)
	if s != "https" && s != "http" {
		return "", compErr(c, "scheme must be http or https")
	}
	return s, nil
}

// normAuthority lowercases the host and drops the scheme's default port
// (RFC 9110 Section 4.2.3), refusing anything that is not host[:port].
func normAuthority(scheme, a string, c Component) (string, error) {
	if a == "" || !isPrintableNoSpace(a) || strings.ContainsAny(a, "/?#@\\") {
		return "", compErr(c, "authority is missing or not host[:port]")
	}
	host, port := a, ""
	if a[0] == '[' {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "", compErr(c, "authority has an unterminated IP literal")
		}
		host = a[:end+1]
		rest := a[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", compErr(c, "authority is not host[:port]")
			}
			port = rest[1:]
		}
	} else if i := strings.IndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i+1:]
		if strings.IndexByte(port, ':') >= 0 {
			return "", compErr(c, "authority is not host[:port]")
		}
	}
	if host == "" {
		return "", compErr(c, "authority has no host")
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return "", compErr(c, "authority port is not numeric")
		}
	}
	host = strings.ToLower(host)
	if port == "" || (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		return host, nil
	}
	return host + ":" + port, nil
}

// splitTarget returns the path (never empty) and raw query of an
// origin-form, absolute-form or asterisk-form request-target.
func splitTarget(rt string, c Component) (path, query string, hasQuery bool, err error) {
	if !isPrintableNoSpace(rt) || strings.IndexByte(rt, '#') >= 0 {
		return "", "", false, compErr(c, "request-target is missing or not printable ASCII")
	}
	switch {
	case rt == "*":
		return "/", "", false, nil
	case strings.HasPrefix(rt, "/"):
	case strings.HasPrefix(strings.ToLower(rt), "https://"), strings.HasPrefix(strings.ToLower(rt), "http://"):
		rest := rt[strings.Index(rt, "://")+3:]
		i := strings.IndexAny(rest, "/?")
		if i < 0 {
			rt = ""
		} else {
			rt = rest[i:]
		}
	default:
		return "", "", false, compErr(c, "request-target has no path (authority-form)")
	}
	path, query, hasQuery = strings.Cut(rt, "?")
	if path == "" {
		path = "/"
	}
	return path, query, hasQuery, nil
}

// queryParam implements RFC 9421 Section 2.2.8: parse the query as
// application/x-www-form-urlencoded (WHATWG URL), re-encode names and
// values, and return the value of the one parameter whose encoded name is
// c.QueryName. A name that occurs more than once is an error: the
// component would otherwise cover only one of the values an application
// might read.
func queryParam(query string, c Component) (string, error) {
	found, value := 0, ""
	for _, seq := range strings.Split(query, "&") {
		if seq == "" {
			continue
		}
		name, v, _ := strings.Cut(seq, "=")
		if formEncode(formDecode(name)) != c.QueryName {
			continue
		}
		found++
		value = formEncode(formDecode(v))
	}
	switch found {
	case 0:
		return "", compErr(c, "query parameter not present")
	case 1:
		return value, nil
	default:
		return "", compErr(c, "query parameter occurs more than once")
	}
}

// formDecode: '+' is a space, %XX is a byte (an invalid escape stays
// literal), and the bytes are read as UTF-8 with each invalid byte replaced
// by U+FFFD.
func formDecode(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	var out strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		out.WriteRune(r) // RuneError for an invalid byte
		b = b[n:]
	}
	return out.String()
}

// formEncode percent-encodes everything but ASCII alphanumerics and
// "*-._" (the application/x-www-form-urlencoded percent-encode set), with
// a space as %20 as RFC 9421's examples show.
func formEncode(s string) string {
	const hexdigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '*' || c == '-' || c == '.' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexdigits[c>>4])
		b.WriteByte(hexdigits[c&15])
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func isPrintableNoSpace(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func statusValue(code int) (string, error) {
	if code < 100 || code > 999 {
		return "", newErr(ErrComponent, "", "@status: not a three-digit status code")
	}
	return strconv.Itoa(code), nil
}
