package authn

import (
	"net/http"
	"net/url"
	"strings"
)

// TokenSources are the places besides the Authorization header a route
// accepts bearer tokens from (RFC 6750 §2.3 query parameter, a cookie).
// Both are off unless the route opts in.
type TokenSources struct {
	// Query accepts the access_token query parameter.
	Query bool
	// Cookie names a cookie holding the token ("" for none).
	Cookie string
	// StripHeader also removes the Authorization header once the token
	// is accepted, so the upstream never holds it.
	StripHeader bool
}

// RouteRules are what a route asks of its bearer-token authenticators on
// top of their own configuration.
type RouteRules struct {
	// Sources are the places besides Authorization the route reads tokens
	// from.
	Sources TokenSources
	// FAPI2 applies the FAPI 2.0 resource-server rules (route profile
	// fapi2): sender-constrained tokens only, and token and proof
	// algorithms narrowed to PS256, ES256 and EdDSA.
	FAPI2 bool
}

// BearerAuthenticator is an Authenticator of bearer tokens that a route can
// give rules of its own.
type BearerAuthenticator interface {
	Authenticator
	// ForRoute returns a copy applying rules. Verdicts it caches are
	// never shared with copies under other rules that would have decided
	// otherwise.
	ForRoute(rules RouteRules) (Authenticator, error)
}

// QueryParam is the RFC 6750 §2.3 query parameter.
const QueryParam = "access_token"

// ExtractBearer returns the request's bearer token: from one Authorization:
// Bearer header, or where src allows, the access_token query parameter or
// the named cookie. A token sent in more than one place is invalid_request
// (RFC 6750 §2). The request is not changed, so the next authenticator of a
// route sees the same token; the one that accepts it calls StripBearer.
func ExtractBearer(r *http.Request, maxLen int, src TokenSources) (string, error) {
	tok, err := BearerToken(r, maxLen)
	if err != nil && err != ErrNotApplicable {
		return "", err
	}
	found := err == nil
	if src.Query && strings.Contains(r.URL.RawQuery, QueryParam) {
		q, perr := url.ParseQuery(r.URL.RawQuery)
		if vals := q[QueryParam]; perr == nil && len(vals) > 0 {
			if found || len(vals) > 1 {
				return "", twoPlaces()
			}
			tok, found = vals[0], true
		}
	}
	if src.Cookie != "" {
		if cs := r.CookiesNamed(src.Cookie); len(cs) > 0 {
			if found || len(cs) > 1 {
				return "", twoPlaces()
			}
			tok, found = cs[0].Value, true
		}
	}
	switch {
	case !found:
		return "", ErrNotApplicable
	case tok == "":
		return "", &Unauthenticated{Reason: "empty bearer token", Code: "invalid_request", Description: "The bearer token is empty."}
	case maxLen > 0 && len(tok) > maxLen:
		return "", Reject("bearer token too large", "The access token is invalid.")
	}
	return tok, nil
}

func twoPlaces() error {
	return &Unauthenticated{Reason: "bearer token in more than one place", Code: "invalid_request",
		Description: "Send the access token in exactly one place."}
}

// StripBearer removes a token taken from the query or a cookie (per src)
// from r, so it never reaches the upstream or the access log. The
// Authorization header is left for the upstream unless src.StripHeader.
func StripBearer(r *http.Request, src TokenSources) {
	if src.StripHeader {
		r.Header.Del("Authorization")
	}
	if src.Query && strings.Contains(r.URL.RawQuery, QueryParam) {
		_, r.URL.RawQuery = TakeQueryParam(r.URL.RawQuery, QueryParam)
	}
	if src.Cookie != "" && len(r.CookiesNamed(src.Cookie)) > 0 {
		stripCookie(r, src.Cookie)
	}
}

// stripCookie removes cookie name from the request's Cookie headers.
func stripCookie(r *http.Request, name string) {
	var keep []string
	for _, c := range r.Cookies() {
		if c.Name != name {
			keep = append(keep, c.Name+"="+c.Value)
		}
	}
	r.Header.Del("Cookie")
	if len(keep) > 0 {
		r.Header.Set("Cookie", strings.Join(keep, "; "))
	}
}

// TakeQueryParam returns the values of query parameter name in raw and raw
// without them, every other parameter kept byte for byte and in order (re-encoding
// the query would reorder it and break signed URLs).
func TakeQueryParam(raw, name string) (vals []string, rest string) {
	kept := make([]string, 0, 4)
	for _, part := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name {
			if uv, err := url.QueryUnescape(v); err == nil {
				vals = append(vals, uv)
			} else {
				vals = append(vals, "")
			}
			continue
		}
		kept = append(kept, part)
	}
	return vals, strings.Join(kept, "&")
}
