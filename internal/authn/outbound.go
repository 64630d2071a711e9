package authn

import (
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/principal"
)

// CredentialCarrier is implemented by authenticators whose credential
// travels in its own request header (and optionally a query parameter),
// so that every copy the gateway did not verify can be removed before
// forwarding and duplicates refused.
type CredentialCarrier interface {
	// CredentialHeader is the canonical header name.
	CredentialHeader() string
	// CredentialQueryParam is the query parameter, or "".
	CredentialQueryParam() string
}

// Outbound decides what a route's upstream receives of the caller's
// identity and credentials: the verified identity headers, and of the
// credentials only the one the gateway verified (a relayed bearer token),
// or none. It is applied by the forwarder to the outbound request after
// hop-by-hop processing, so nothing the client sends (a Connection header
// naming X-Consumer-Id) can remove or replace what it sets.
type Outbound struct {
	identity []identityField
	// keyHeaders are the headers of every api_key authenticator: Portcullis
	// keys are for the gateway alone, on every route.
	keyHeaders []string
	// authenticated is false on auth: none routes, where the gateway vouches
	// for nothing and other credentials are the upstream's business.
	authenticated bool
	// relayBearer keeps a verified Authorization: Bearer (no strip_token).
	relayBearer bool
	// queryParams are credential parameters removed on authenticated
	// routes: access_token (which RFC 6750 resource servers accept) and
	// the route's api_key query parameters.
	queryParams []string
	// cookie is the route's token cookie.
	cookie string
}

type identityField struct {
	name  string // canonical, resolved once here
	value func(*principal.Principal) string
}

// NewOutbound compiles the outbound rules of a route whose auth block is
// route (nil or None for auth: none), authenticated by routeAuths, in a
// configuration whose authenticators are all.
func NewOutbound(h config.IdentityHeaders, route *config.RouteAuth, routeAuths []Authenticator, all map[string]Authenticator) *Outbound {
	o := &Outbound{}
	add := func(name string, value func(*principal.Principal) string) {
		if name != "" {
			o.identity = append(o.identity, identityField{http.CanonicalHeaderKey(name), value})
		}
	}
	add(h.ConsumerID, func(p *principal.Principal) string { return p.ConsumerID })
	add(h.Subject, func(p *principal.Principal) string { return p.Subject })
	add(h.Scopes, func(p *principal.Principal) string { return strings.Join(p.Scopes, " ") })
	add(h.Roles, func(p *principal.Principal) string { return strings.Join(p.Roles, " ") })
	add(h.Method, func(p *principal.Principal) string { return string(p.Method) })
	add(h.CredentialID, func(p *principal.Principal) string { return p.CredentialID })

	seen := map[string]bool{"Authorization": true} // Authorization has its own rule
	for _, a := range all {
		if c, ok := a.(CredentialCarrier); ok && !seen[c.CredentialHeader()] {
			seen[c.CredentialHeader()] = true
			o.keyHeaders = append(o.keyHeaders, c.CredentialHeader())
		}
	}
	if route == nil || route.None {
		return o
	}
	o.authenticated = true
	o.relayBearer = !route.StripToken
	o.cookie = route.AllowCookieToken
	o.queryParams = []string{QueryParam}
	for _, a := range routeAuths {
		if c, ok := a.(CredentialCarrier); ok && c.CredentialQueryParam() != "" {
			o.queryParams = append(o.queryParams, c.CredentialQueryParam())
		}
	}
	return o
}

// Assert sets the outbound request's identity and removes every credential
// the gateway did not verify. p is nil when nobody was authenticated.
func (o *Outbound) Assert(out *http.Request, p *principal.Principal) {
	h := out.Header
	for _, k := range o.keyHeaders {
		delete(h, k)
	}
	if o.authenticated {
		if !o.relayBearer || p == nil || !relaysBearer(p.Method) || !singleToken(h["Authorization"], p.Method) {
			delete(h, "Authorization")
		}
		// A proof is for the gateway: its jti is spent here, and it names
		// the gateway's URI, not the upstream's.
		delete(h, "Dpop")
		for _, q := range o.queryParams {
			out.URL.RawQuery = StripQueryParam(out.URL.RawQuery, q)
		}
		if o.cookie != "" && len(out.CookiesNamed(o.cookie)) > 0 {
			stripCookie(out, o.cookie)
		}
	}
	for _, f := range o.identity {
		delete(h, f.name)
	}
	if p == nil {
		return
	}
	// One backing array for every identity field (each a full slice).
	vals := make([]string, len(o.identity))
	for i, f := range o.identity {
		if v := f.value(p); v != "" {
			vals[i] = sanitize(v)
			h[f.name] = vals[i : i+1 : i+1]
		}
	}
}

// relaysBearer reports whether a principal of method m was verified from
// an access token, which the upstream may receive (token relay).
func relaysBearer(m principal.Method) bool {
	return m == principal.MethodJWT || m == principal.MethodIntrospection || m == principal.MethodDPoP
}

// singleToken reports whether vals is one Authorization header of the
// scheme the token was verified with (DPoP for method dpop, else Bearer).
// When a token authenticator accepted the request, such a header is the
// token it verified: a token in the header and in the query or a cookie is
// refused (RFC 6750 §2), so a verified query or cookie token comes with no
// such header, and any other Authorization is not what was verified.
func singleToken(vals []string, m principal.Method) bool {
	if len(vals) != 1 {
		return false
	}
	want := "Bearer"
	if m == principal.MethodDPoP {
		want = "DPoP"
	}
	scheme, _, _ := strings.Cut(vals[0], " ")
	return strings.EqualFold(scheme, want)
}

// StripQueryParam returns raw without parameter name (also when its name
// is percent-encoded), every other parameter kept byte for byte and in
// order; raw itself when name is not there.
func StripQueryParam(raw, name string) string {
	if raw == "" || !strings.Contains(raw, name) && strings.IndexByte(raw, '%') < 0 {
		return raw
	}
	_, rest := TakeQueryParam(raw, name)
	return rest
}
