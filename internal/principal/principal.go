// Package principal owns the description of who is calling: the result of
// authentication that authorisation, rate limits, logs and identity headers
// all read.
package principal

import (
	"slices"
	"time"
)

// Method names how the caller was authenticated.
type Method string

// Authentication methods.
const (
	MethodNone          Method = "none"
	MethodJWT           Method = "jwt"
	MethodIntrospection Method = "introspection"
	MethodMTLS          Method = "mtls"
	MethodAPIKey        Method = "api_key"
	// MethodDPoP is an access token (JWT or introspected) sent with the
	// DPoP scheme and a verified proof of its key (RFC 9449).
	MethodDPoP Method = "dpop"
)

// Confirmation is what an access token is bound to (its cnf claim, RFC
// 7800): a key (DPoP) or a client certificate (RFC 8705). Read once when
// the token is verified, it is cached with the principal, so the binding
// is checked again on every request, cache hits included.
type Confirmation struct {
	// JKT is the RFC 7638 thumbprint of the DPoP key (cnf.jkt).
	JKT string
	// X5TS256 is the client certificate's SHA-256 thumbprint
	// (cnf["x5t#S256"]).
	X5TS256 string
}

// Principal is the verified identity of a caller.
type Principal struct {
	// ConsumerID is the stable id rate limits, logs and upstreams key on.
	ConsumerID string
	// Subject is the credential's subject (JWT sub, certificate subject, key id owner).
	Subject string
	// Scopes granted to this credential.
	Scopes []string
	// Roles held by the caller.
	Roles []string
	// Groups the consumer belongs to.
	Groups []string
	// Method is how the caller authenticated.
	Method Method
	// Authenticator is the configured name of the authenticator that decided.
	Authenticator string
	// CredentialID identifies the credential without revealing it: a JWT id or
	// token hash prefix, an API key id.
	CredentialID string
	// CertThumbprint is the base64url SHA-256 of the client certificate, if any.
	CertThumbprint string
	// Tier is an optional rate-limit tier attached to the credential.
	Tier string
	// Expiry is when the credential stops being valid (zero if unknown).
	Expiry time.Time
	// Claims are the raw token claims for claim-based rules (nil for non-token methods).
	Claims map[string]any
	// Confirmation is what the token is bound to; nil for an unbound
	// (bearer) token and for other methods.
	Confirmation *Confirmation
}

// HasScope reports whether p holds scope s.
func (p *Principal) HasScope(s string) bool { return p != nil && slices.Contains(p.Scopes, s) }

// HasRole reports whether p holds role s.
func (p *Principal) HasRole(s string) bool { return p != nil && slices.Contains(p.Roles, s) }

// Issuer is the issuer ("iss") of the token a token caller presented, ""
// for callers without one (API keys, client certificates). Consumer ids
// taken from tokens (client_id, azp) are only unique per issuer, so what
// is scoped to a caller (idempotency keys, signature nonces, signing keys)
// is scoped to the issuer and the consumer id together.
func (p *Principal) Issuer() string {
	if p == nil || p.Claims == nil {
		return ""
	}
	s, _ := p.Claims["iss"].(string)
	return s
}
