package config

import (
	"fmt"
	"regexp"

	"go.yaml.in/yaml/v3"
)

// Authenticator is a named way of verifying callers. Exactly one of its type
// blocks is set.
type Authenticator struct {
	// Name is how routes refer to it. Required, unique.
	Name string `yaml:"name"`
	// JWT verifies bearer JWTs against an issuer's keys.
	JWT *JWTAuth `yaml:"jwt"`
	// Introspection verifies opaque bearer tokens with RFC 7662.
	Introspection *IntrospectionAuth `yaml:"introspection"`
	// MTLS authenticates by the verified client certificate.
	MTLS *MTLSAuth `yaml:"mtls"`
	// APIKey verifies Portcullis API keys.
	APIKey *APIKeyAuth `yaml:"api_key"`
}

// Type returns the name of the set type block ("" if none).
func (a Authenticator) Type() string {
	switch {
	case a.JWT != nil:
		return "jwt"
	case a.Introspection != nil:
		return "introspection"
	case a.MTLS != nil:
		return "mtls"
	case a.APIKey != nil:
		return "api_key"
	}
	return ""
}

func (a Authenticator) typeCount() int {
	n := 0
	for _, set := range []bool{a.JWT != nil, a.Introspection != nil, a.MTLS != nil, a.APIKey != nil} {
		if set {
			n++
		}
	}
	return n
}

// RouteAuth is a route's authentication and authorisation: either the
// explicit scalar "none" (no authentication, chosen on purpose) or a block
// naming authenticators and the grants callers need.
type RouteAuth struct {
	// None is set by `auth: none`.
	None bool `yaml:"-"`
	// Authenticators are tried in order; the first that finds its kind of
	// credential decides. Required (at least one).
	Authenticators []string `yaml:"authenticators"`
	// Require is what every caller needs, whatever the method. Default:
	// nothing beyond authentication.
	Require Grants `yaml:"require"`
	// Methods adds per-method requirements (e.g. POST needs payments:write),
	// checked in addition to Require. HEAD uses GET's entry unless it has
	// its own.
	Methods map[string]Grants `yaml:"methods"`
	// AllowQueryToken also accepts a bearer token in the access_token query
	// parameter (RFC 6750 §2.3), removed before forwarding. Default false:
	// URLs end up in logs and browser history.
	AllowQueryToken bool `yaml:"allow_query_token"`
	// AllowCookieToken names a cookie a bearer token is also accepted from
	// (removed before forwarding). Default: none.
	AllowCookieToken string `yaml:"allow_cookie_token"`
	// StripToken removes the Authorization header of an accepted bearer
	// token (jwt, introspection) before forwarding, for upstreams that
	// trust the identity headers and should never hold a replayable
	// token. Default false: the header is forwarded (token relay).
	StripToken bool `yaml:"strip_token"`
}

// Grants are authorisation requirements. Every set part must hold.
type Grants struct {
	// Scopes the credential must carry. Default: none.
	Scopes ScopeRule `yaml:"scopes"`
	// Roles the caller must hold (any of them). Default: none.
	Roles []string `yaml:"roles"`
	// Consumers are the consumer ids allowed (empty: any).
	Consumers []string `yaml:"consumers"`
	// Groups are consumer groups allowed (empty: any).
	Groups []string `yaml:"groups"`
}

// ScopeRule requires all of AllOf and at least one of AnyOf.
type ScopeRule struct {
	// AllOf are scopes that must all be granted. Default: none.
	AllOf []string `yaml:"all_of"`
	// AnyOf are scopes of which at least one must be granted. Default: none.
	AnyOf []string `yaml:"any_of"`
}

// IsZero reports whether g requires nothing.
func (g Grants) IsZero() bool {
	return len(g.Scopes.AllOf)+len(g.Scopes.AnyOf)+len(g.Roles)+len(g.Consumers)+len(g.Groups) == 0
}

func (g Grants) validate(errs *Errors, path string) {
	validScopeList(errs, Join(path, "scopes.all_of"), g.Scopes.AllOf)
	validScopeList(errs, Join(path, "scopes.any_of"), g.Scopes.AnyOf)
	validScopeList(errs, Join(path, "roles"), g.Roles)
	validScopeList(errs, Join(path, "consumers"), g.Consumers)
	validScopeList(errs, Join(path, "groups"), g.Groups)
}

// UnmarshalYAML accepts "none" or a mapping.
func (a *RouteAuth) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value == "none" {
			a.None = true
			return nil
		}
		return fmt.Errorf(`must be "none" or an auth block`)
	}
	type plain RouteAuth
	return n.Decode((*plain)(a))
}

// IdentityHeaders name the headers that carry the verified identity
// upstream. Incoming headers with these names are always removed first, on
// every route, so a client can never forge them. Identity headers can be
// renamed, not turned off: an explicit empty name is refused.
type IdentityHeaders struct {
	// ConsumerID default X-Consumer-Id.
	ConsumerID string `yaml:"consumer_id"`
	// Subject default X-Consumer-Subject.
	Subject string `yaml:"subject"`
	// Scopes default X-Scopes (space-separated).
	Scopes string `yaml:"scopes"`
	// Roles default X-Roles (space-separated).
	Roles string `yaml:"roles"`
	// Method default X-Auth-Method.
	Method string `yaml:"method"`
	// CredentialID default X-Credential-Id.
	CredentialID string `yaml:"credential_id"`
}

func (IdentityHeaders) defaults() any {
	return IdentityHeaders{
		ConsumerID: "X-Consumer-Id", Subject: "X-Consumer-Subject", Scopes: "X-Scopes",
		Roles: "X-Roles", Method: "X-Auth-Method", CredentialID: "X-Credential-Id",
	}
}

func (c *Config) validateAuth(errs *Errors) {
	names := map[string]bool{}
	for i, a := range c.Authenticators {
		p := Index("authenticators", i)
		switch {
		case a.Name == "":
			errs.Add(Join(p, "name"), "is required")
		case !nameRe.MatchString(a.Name):
			errs.Add(Join(p, "name"), "must match %s", nameRe)
		case names[a.Name]:
			errs.Add(Join(p, "name"), "duplicate authenticator name %q", a.Name)
		}
		names[a.Name] = true
		switch a.typeCount() {
		case 0:
			errs.Add(p, "needs one of jwt, introspection, mtls, api_key")
		case 1:
		default:
			errs.Add(p, "must have exactly one of jwt, introspection, mtls, api_key")
		}
		if a.JWT != nil {
			a.JWT.validate(errs, Join(p, "jwt"))
		}
		if a.Introspection != nil {
			a.Introspection.validate(errs, Join(p, "introspection"))
		}
		if a.MTLS != nil {
			a.MTLS.validate(errs, Join(p, "mtls"), c)
		}
		if a.APIKey != nil {
			a.APIKey.validate(errs, Join(p, "api_key"), c)
		}
	}
	for _, h := range []struct{ key, val string }{
		{"consumer_id", c.IdentityHeaders.ConsumerID}, {"subject", c.IdentityHeaders.Subject},
		{"scopes", c.IdentityHeaders.Scopes}, {"roles", c.IdentityHeaders.Roles},
		{"method", c.IdentityHeaders.Method}, {"credential_id", c.IdentityHeaders.CredentialID},
	} {
		// An empty name would neither set nor strip the header: the
		// client's copy would reach the upstream.
		validHeaderName(errs, Join("identity_headers", h.key), h.val)
	}
	for i, r := range c.Routes {
		if r.Auth == nil || r.Auth.None {
			continue
		}
		p := Join(Index("routes", i), "auth")
		if len(r.Auth.Authenticators) == 0 {
			errs.Add(Join(p, "authenticators"), "at least one authenticator is required (or write \"auth: none\")")
		}
		for j, n := range r.Auth.Authenticators {
			if !names[n] {
				errs.Add(Index(Join(p, "authenticators"), j), "unknown authenticator %q", n)
			}
		}
		c.validateRouteAuth(errs, p, r.Auth)
		for m := range r.Auth.Methods {
			if !knownMethods[m] {
				errs.Add(Join(Join(p, "methods"), m), "unknown method %q", m)
			} else if len(r.Methods) > 0 && !contains(r.Methods, m) {
				errs.Add(Join(Join(p, "methods"), m), "the route does not accept %s", m)
			}
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// validateRouteAuth checks a route's grants and token-source opt-ins.
func (c *Config) validateRouteAuth(errs *Errors, p string, a *RouteAuth) {
	a.Require.validate(errs, Join(p, "require"))
	for m, g := range a.Methods {
		g.validate(errs, Join(Join(p, "methods"), m))
	}
	if !a.AllowQueryToken && a.AllowCookieToken == "" {
		return
	}
	bearer := false
	for _, n := range a.Authenticators {
		for _, ac := range c.Authenticators {
			if ac.Name == n && (ac.JWT != nil || ac.Introspection != nil) {
				bearer = true
			}
		}
	}
	if !bearer {
		errs.Add(p, "allow_query_token and allow_cookie_token need a jwt or introspection authenticator")
	}
	if n := a.AllowCookieToken; n != "" && !cookieNameRe.MatchString(n) {
		errs.Add(Join(p, "allow_cookie_token"), "invalid cookie name %q", n)
	}
}

var cookieNameRe = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]{1,128}$`)
