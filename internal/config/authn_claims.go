package config

import "fmt"

import "strings"

// ClaimMapping names the token claims (or introspection response members)
// the principal is read from. A name is looked up first as one top-level
// claim (so namespaced claims such as "https://example.com/roles" work) and
// then as a dot-separated path into nested objects ("realm_access.roles").
type ClaimMapping struct {
	// Consumer is the claim holding the consumer id. Default "sub"; when it
	// is absent, "client_id" and then "azp" are used.
	Consumer string `yaml:"consumer"`
	// Scopes is the claim holding the granted scopes, either one
	// space-separated string or a list of strings. Default "scope".
	Scopes string `yaml:"scopes"`
	// Roles is the claim holding the caller's roles (a list or a
	// space-separated string). Default "roles".
	Roles string `yaml:"roles"`
	// Groups is the claim holding the caller's groups. Default "groups".
	Groups string `yaml:"groups"`
}

// ClaimRule requires a claim to hold one of a set of values (e.g. acr in a
// set of assurance levels). For a list-valued claim, one element must match.
type ClaimRule struct {
	// Claim is the claim name or dot path. Required.
	Claim string `yaml:"claim"`
	// OneOf are the accepted string values. At least one.
	OneOf []string `yaml:"one_of"`
}

// Claim defaults.
const (
	DefaultConsumerClaim = "sub"
	DefaultScopesClaim   = "scope"
	DefaultRolesClaim    = "roles"
	DefaultGroupsClaim   = "groups"
)

// TokenChecks are the checks every bearer-token authenticator (jwt,
// introspection) makes of a token it verified: the same keys, meaning and
// validation in both blocks.
type TokenChecks struct {
	// Leeway is the clock skew allowed when checking exp, nbf (and, for
	// JWTs, iat). Default 30s; at most 5m; 0 allows none.
	Leeway Duration `yaml:"leeway"`
	// MaxTokenBytes caps the size of a token; larger tokens are rejected
	// before anything else is done. Default 8KiB (jwt) or 4KiB
	// (introspection); at most 64KiB.
	MaxTokenBytes ByteSize `yaml:"max_token_bytes"`
	// RequiredClaims must be present (names or dot paths). A JWT's exp is
	// always required. Default: none.
	RequiredClaims []string `yaml:"required_claims"`
	// ClaimRules restrict claim values (e.g. acr in a set). Default: none.
	ClaimRules []ClaimRule `yaml:"claim_rules"`
	// Claims names the claims the principal is read from.
	Claims ClaimMapping `yaml:"claims"`
	// DPoP accepts DPoP-bound tokens (RFC 9449) with their proofs.
	// Default: none (Authorization: DPoP is not this authenticator's
	// kind). Whatever it says, a token bound to a key (cnf.jkt) is never
	// accepted as a bearer token, and a token bound to a certificate
	// (cnf.x5t#S256) only with that certificate.
	DPoP *DPoPAuth `yaml:"dpop"`
}

// validate checks the block; minBytes is the smallest token its kind can
// have.
func (c *TokenChecks) validate(errs *Errors, path string, minBytes ByteSize) {
	if c.Leeway.D() > maxJWTLeeway {
		errs.Add(Join(path, "leeway"), "must be at most 5m")
	}
	if c.MaxTokenBytes < minBytes || c.MaxTokenBytes > maxJWTTokenBytes {
		errs.Add(Join(path, "max_token_bytes"), "must be between %s and 64KiB", formatSize(minBytes))
	}
	c.Claims.validate(errs, Join(path, "claims"))
	validateClaimRules(errs, path, c.RequiredClaims, c.ClaimRules)
	if c.DPoP != nil {
		c.DPoP.validate(errs, Join(path, "dpop"))
	}
}

func formatSize(b ByteSize) string { return fmt.Sprintf("%dB", int64(b)) }

func (ClaimMapping) defaults() any {
	return ClaimMapping{Consumer: DefaultConsumerClaim, Scopes: DefaultScopesClaim, Roles: DefaultRolesClaim, Groups: DefaultGroupsClaim}
}

func (m *ClaimMapping) validate(errs *Errors, path string) {
	for _, c := range []struct{ key, val string }{
		{"consumer", m.Consumer}, {"scopes", m.Scopes}, {"roles", m.Roles}, {"groups", m.Groups},
	} {
		validClaimPath(errs, Join(path, c.key), c.val)
	}
}

func validateClaimRules(errs *Errors, path string, required []string, rules []ClaimRule) {
	for i, c := range required {
		validClaimPath(errs, Index(Join(path, "required_claims"), i), c)
	}
	for i, r := range rules {
		p := Index(Join(path, "claim_rules"), i)
		validClaimPath(errs, Join(p, "claim"), r.Claim)
		if len(r.OneOf) == 0 {
			errs.Add(Join(p, "one_of"), "at least one value is required")
		}
	}
}

func validClaimPath(errs *Errors, path, c string) {
	switch {
	case c == "":
		errs.Add(path, "must not be empty")
	case strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".") || strings.Contains(c, ".."):
		errs.Add(path, "invalid claim path %q", c)
	case len(c) > 256:
		errs.Add(path, "is longer than 256 characters")
	}
}

// validScopeList checks scope and role names: non-empty, no spaces (scopes
// are space-separated on the wire, RFC 6749 §3.3) and no quotes (they are
// echoed in WWW-Authenticate).
func validScopeList(errs *Errors, path string, ss []string) {
	for i, s := range ss {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			errs.Add(Index(path, i), "invalid value %q (no spaces or quotes)", s)
		}
	}
}
