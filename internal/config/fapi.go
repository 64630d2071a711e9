package config

import (
	"slices"
	"strings"
	"time"
)

// FAPI 2.0 Security Profile limits on a resource server (profile: fapi2).
var (
	// FAPI2Algorithms are the only JWS algorithms FAPI 2.0 allows, for
	// access tokens and DPoP proofs alike.
	FAPI2Algorithms = []string{"PS256", "ES256", "EdDSA"}
	// FAPI2MaxLeeway is the most clock skew allowed on iat, nbf and exp.
	FAPI2MaxLeeway = 10 * time.Second
)

// FAPI2Allowed returns the algorithms of algs FAPI 2.0 allows, in order.
func FAPI2Allowed(algs []string) []string {
	var out []string
	for _, a := range algs {
		if slices.Contains(FAPI2Algorithms, a) {
			out = append(out, a)
		}
	}
	return out
}

// validateProfiles checks every route's profile; under fapi2 it refuses,
// each at its own path, every setting that contradicts the profile. What
// the profile narrows instead of refusing (the algorithms an issuer or a
// DPoP block allows besides PS256, ES256 and EdDSA) is narrowed for that
// route only; a list left empty is refused.
func (c *Config) validateProfiles(errs *Errors) {
	fapiListener := false
	for _, l := range c.Listeners {
		if l.TLS != nil && l.TLS.Profile == "fapi2" {
			fapiListener = true
		}
	}
	for i, r := range c.Routes {
		p := Index("routes", i)
		switch r.Profile {
		case "none":
		case "fapi2":
			c.validateFAPIRoute(errs, p, r, fapiListener)
		default:
			errs.Add(Join(p, "profile"), "must be none or fapi2; got %q", r.Profile)
		}
	}
}

func (c *Config) validateFAPIRoute(errs *Errors, p string, r Route, fapiListener bool) {
	if !fapiListener {
		errs.Add(Join(p, "profile"), "fapi2 needs a listener with tls.profile: fapi2 (TLS 1.2 only with ECDHE and AES-GCM)")
	}
	if r.Auth == nil || r.Auth.None {
		errs.Add(Join(p, "auth"), "profile fapi2 needs authenticators: a FAPI resource is never public")
		return
	}
	ap := Join(p, "auth")
	if r.Auth.AllowQueryToken {
		errs.Add(Join(ap, "allow_query_token"), "must be false under profile fapi2: the access token goes in the Authorization header only")
	}
	if r.Auth.AllowCookieToken != "" {
		errs.Add(Join(ap, "allow_cookie_token"), "must not be set under profile fapi2: the access token goes in the Authorization header only")
	}
	certBound := c.ClientCertHeader != nil
	for _, l := range c.Listeners {
		if l.TLS != nil && l.TLS.ClientAuth != "none" {
			certBound = true
		}
	}
	for j, name := range r.Auth.Authenticators {
		jp := Index(Join(ap, "authenticators"), j)
		idx := slices.IndexFunc(c.Authenticators, func(a Authenticator) bool { return a.Name == name })
		if idx < 0 {
			continue // reported by validateAuth
		}
		ac := c.Authenticators[idx]
		path := Index("authenticators", idx)
		var tc *TokenChecks
		switch {
		case ac.JWT != nil:
			path = Join(path, "jwt")
			tc = &ac.JWT.TokenChecks
			for k, is := range ac.JWT.Issuers {
				if len(is.Algorithms) > 0 && len(FAPI2Allowed(is.Algorithms)) == 0 {
					errs.Add(Join(Index(Join(path, "issuers"), k), "algorithms"),
						"route %q has profile fapi2, which accepts only %s; this issuer allows none of them", r.Name, strings.Join(FAPI2Algorithms, ", "))
				}
			}
		case ac.Introspection != nil:
			path = Join(path, "introspection")
			tc = &ac.Introspection.TokenChecks
		default:
			errs.Add(jp, "profile fapi2 accepts sender-constrained OAuth access tokens only (jwt or introspection), not %s", ac.Type())
			continue
		}
		if tc.Leeway.D() > FAPI2MaxLeeway {
			errs.Add(Join(path, "leeway"), "must be at most 10s: route %q has profile fapi2", r.Name)
		}
		switch {
		case tc.DPoP != nil:
			if len(tc.DPoP.Algorithms) > 0 && len(FAPI2Allowed(tc.DPoP.Algorithms)) == 0 {
				errs.Add(Join(path, "dpop.algorithms"), "route %q has profile fapi2, which accepts only %s; none is listed", r.Name, strings.Join(FAPI2Algorithms, ", "))
			}
		case !certBound:
			errs.Add(jp, "profile fapi2 needs sender-constrained tokens: give %q a dpop block, or take certificate-bound tokens (a listener with tls.client_auth request, optional or require, or client_cert_header)", name)
		}
	}
}
