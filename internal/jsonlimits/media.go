package jsonlimits

import (
	"mime"
	"net/http"
	"strings"
)

// MediaType is the media type of a request: type/subtype lower-cased,
// and its charset parameter if any.
type MediaType struct {
	Type    string
	Charset string
}

// RequestMediaType reads h's Content-Type. present is false when there is
// none; ok is false when it is repeated or malformed, which a route that
// checks media types refuses: a backend that reads another of the values,
// or reads a malformed one leniently, would see a type the gateway did not.
func RequestMediaType(h http.Header) (mt MediaType, present, ok bool) {
	vs := h["Content-Type"]
	switch len(vs) {
	case 0:
		return MediaType{}, false, true
	case 1:
	default:
		return MediaType{}, true, false
	}
	v := vs[0]
	if simple(v) {
		return MediaType{Type: strings.ToLower(v)}, true, true
	}
	t, params, err := mime.ParseMediaType(v)
	if err != nil || !strings.Contains(t, "/") {
		return MediaType{}, true, false
	}
	return MediaType{Type: t, Charset: strings.ToLower(params["charset"])}, true, true
}

// simple reports whether v is a bare token/token, the common case, which
// needs no allocation to parse.
func simple(v string) bool {
	slash := -1
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '/' && slash < 0 && i > 0:
			slash = i
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '-', c == '+', c == '.', c == '_', c == '!', c == '#', c == '$', c == '&', c == '^':
		default:
			return false
		}
	}
	return slash > 0 && slash < len(v)-1
}

// IsJSON reports whether mt is a JSON media type: application/json,
// text/json, or any structured "+json" type (RFC 6839).
func IsJSON(mt string) bool {
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// looksJSON reports whether a body sent without a Content-Type starts like
// a JSON object or array (a UTF-8 byte order mark and whitespace skipped):
// a backend that parses such a body as JSON must get one that was
// checked.
func looksJSON(b []byte) bool {
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		return true // a BOM is not JSON; the scan refuses it
	}
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{', '[':
			return true
		}
		return false
	}
	return false
}
