package clientip

import (
	"errors"
	"net/http"
	"strings"
)

// ErrAmbiguousOrigin is a forwarded scheme or host that cannot be read
// with certainty: several values, or a malformed one. A caller that needs
// the client's view of the URI (a DPoP proof's htu) must refuse rather
// than guess.
var ErrAmbiguousOrigin = errors.New("clientip: forwarded scheme or host is ambiguous or malformed")

// Origin returns the scheme and host the client used, as the trusted proxy
// in front of the gateway forwarded them: X-Forwarded-Proto and
// X-Forwarded-Host, or, when the Resolver reads Forwarded, the proto= and
// host= of the element that holds the client's address (the one the
// outermost trusted proxy wrote). Call it only for a request whose peer is
// trusted. An empty result was not forwarded: the connection's own scheme
// and Host apply.
func (r *Resolver) Origin(h http.Header) (scheme, host string, err error) {
	if r.header == Forwarded {
		return r.forwardedOrigin(h["Forwarded"])
	}
	if scheme, err = single(h["X-Forwarded-Proto"]); err != nil {
		return "", "", err
	}
	if host, err = single(h["X-Forwarded-Host"]); err != nil {
		return "", "", err
	}
	return checkOrigin(scheme, host)
}

// single is the one value of a header that must not be a list.
func single(vals []string) (string, error) {
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1 || strings.IndexByte(vals[0], ',') >= 0:
		return "", ErrAmbiguousOrigin
	}
	v := trimOWS(vals[0])
	if v == "" {
		return "", ErrAmbiguousOrigin
	}
	return v, nil
}

// forwardedOrigin walks the Forwarded elements right to left, past those
// whose for= is a trusted proxy, to the element of the client.
func (r *Resolver) forwardedOrigin(lines []string) (string, string, error) {
	var elems []string
	for _, line := range lines {
		elems = append(elems, strings.Split(line, ",")...)
	}
	scheme, host := "", ""
	for i := len(elems) - 1; i >= 0; i-- {
		e := trimOWS(elems[i])
		if e == "" {
			continue
		}
		params, ok := forwardedParams(e)
		if !ok {
			return "", "", ErrAmbiguousOrigin
		}
		scheme, host = params["proto"], params["host"]
		a, ok := parseNode(params["for"])
		if !ok || !r.Trusted(a) {
			break
		}
	}
	return checkOrigin(scheme, host)
}

// forwardedParams parses one forwarded-element's pairs, names in lower
// case. A repeated name or a malformed pair fails.
func forwardedParams(elem string) (map[string]string, bool) {
	out := map[string]string{}
	for pair := range strings.SplitSeq(elem, ";") {
		if pair = trimOWS(pair); pair == "" {
			continue
		}
		name, val, ok := strings.Cut(pair, "=")
		if !ok || !isToken(name) {
			return nil, false
		}
		if val, ok = paramValue(val); !ok {
			return nil, false
		}
		name = strings.ToLower(name)
		if _, dup := out[name]; dup {
			return nil, false
		}
		out[name] = val
	}
	return out, true
}

// checkOrigin lower-cases the scheme (http or https only) and checks the
// host is a plain authority: a name or address and an optional port,
// nothing that could add a path, userinfo or a second host.
func checkOrigin(scheme, host string) (string, string, error) {
	if scheme != "" {
		scheme = strings.ToLower(scheme)
		if scheme != "http" && scheme != "https" {
			return "", "", ErrAmbiguousOrigin
		}
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(isAlnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_') {
			return "", "", ErrAmbiguousOrigin
		}
	}
	return scheme, host, nil
}
