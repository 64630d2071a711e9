package config

import (
	"net/url"
	"strings"
	"time"
)

// JWTAuth configures the jwt authenticator: bearer JWTs (RFC 7519, JWS
// compact form) verified against the keys of one or more issuers.
type JWTAuth struct {
	// Issuers are the trusted token issuers; a token is matched to one by
	// its exact "iss". At least one.
	Issuers []JWTIssuer `yaml:"issuers"`
	// TokenChecks are leeway, max_token_bytes, required_claims,
	// claim_rules and claims (see TokenChecks).
	TokenChecks `yaml:",inline"`
	// CacheTTL bounds how long a verified token is remembered (by its
	// SHA-256) so hot tokens are not re-verified on every request; entries
	// never outlive the token's exp. Default 5m.
	CacheTTL Duration `yaml:"cache_ttl"`
	// DisableCache verifies every token on every request. Default false.
	DisableCache bool `yaml:"disable_cache"`
	// RequireTyp, when "at+jwt", accepts only tokens whose typ header is
	// at+jwt (RFC 9068 access tokens; "application/at+jwt" and any case
	// too), so a token without typ is refused. Default "": typ may be
	// absent, and when present must be JWT or at+jwt; any other type (a
	// DPoP proof, a logout or security event token) is always refused.
	RequireTyp string `yaml:"require_typ"`
}

// JWTIssuer is one trusted issuer and where its verification keys come from.
type JWTIssuer struct {
	// Issuer is the exact "iss" value. Required, unique per authenticator.
	Issuer string `yaml:"issuer"`
	// Audiences are accepted "aud" values: the token's aud must contain one.
	// At least one (a token minted for another service is never accepted).
	Audiences []string `yaml:"audiences"`
	// JWKSURL is the https URL of the issuer's JWKS. Fetched in the
	// background and cached across reloads. One of JWKSURL or JWKSFile.
	JWKSURL string `yaml:"jwks_url"`
	// JWKSFile is a local JWKS (JSON) or PEM file of public keys, read at
	// load time. One of JWKSURL or JWKSFile.
	JWKSFile string `yaml:"jwks_file"`
	// CAFile is a PEM bundle trusted for the JWKS URL's certificate instead
	// of the system roots. Default: system roots.
	CAFile string `yaml:"ca_file"`
	// Algorithms allowed in the token's "alg". Default RS256, PS256, ES256,
	// EdDSA. Only asymmetric algorithms are accepted: none and HS* are
	// configuration errors.
	Algorithms []string `yaml:"algorithms"`
	// RefreshInterval is how old the cached JWKS may get before a request
	// triggers a background refresh. Default 5m.
	RefreshInterval Duration `yaml:"refresh_interval"`
	// MinRefreshInterval rate-limits refreshes forced by a token with an
	// unknown kid (key rotation). Default 30s; at least 1s.
	MinRefreshInterval Duration `yaml:"min_refresh_interval"`
	// FetchTimeout bounds one JWKS fetch. Default 5s.
	FetchTimeout Duration `yaml:"fetch_timeout"`
}

// JWT defaults.
const (
	DefaultJWTLeeway           = 30 * time.Second
	DefaultJWTMaxTokenBytes    = 8 << 10
	DefaultJWTCacheTTL         = 5 * time.Minute
	DefaultJWKSRefreshInterval = 5 * time.Minute
	DefaultJWKSMinRefresh      = 30 * time.Second
	DefaultJWKSFetchTimeout    = 5 * time.Second
	maxJWTLeeway               = 5 * time.Minute
	maxJWTTokenBytes           = 64 << 10
)

// DefaultJWTAlgorithms are the algorithms an issuer accepts by default.
var DefaultJWTAlgorithms = []string{"RS256", "PS256", "ES256", "EdDSA"}

// AsymmetricAlgorithms are the JWS algorithms an issuer may allow.
var AsymmetricAlgorithms = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

func (JWTAuth) defaults() any {
	return JWTAuth{TokenChecks: TokenChecks{Leeway: Duration(DefaultJWTLeeway), MaxTokenBytes: DefaultJWTMaxTokenBytes, Claims: ClaimMapping{}.defaults().(ClaimMapping)},
		CacheTTL: Duration(DefaultJWTCacheTTL)}
}

func (JWTIssuer) defaults() any {
	return JWTIssuer{
		Algorithms:         DefaultJWTAlgorithms,
		RefreshInterval:    Duration(DefaultJWKSRefreshInterval),
		MinRefreshInterval: Duration(DefaultJWKSMinRefresh),
		FetchTimeout:       Duration(DefaultJWKSFetchTimeout),
	}
}

func (a *JWTAuth) validate(errs *Errors, path string) {
	if len(a.Issuers) == 0 {
		errs.Add(Join(path, "issuers"), "at least one issuer is required")
	}
	a.TokenChecks.validate(errs, path, 512)
	switch strings.ToLower(a.RequireTyp) {
	case "", "at+jwt", "application/at+jwt":
	default:
		errs.Add(Join(path, "require_typ"), "must be at+jwt (or left out), got %q", a.RequireTyp)
	}
	seen := map[string]bool{}
	for i, is := range a.Issuers {
		p := Index(Join(path, "issuers"), i)
		switch {
		case is.Issuer == "":
			errs.Add(Join(p, "issuer"), "is required (the exact iss value)")
		case seen[is.Issuer]:
			errs.Add(Join(p, "issuer"), "duplicate issuer %q", is.Issuer)
		}
		seen[is.Issuer] = true
		if len(is.Audiences) == 0 {
			errs.Add(Join(p, "audiences"), "at least one audience is required")
		}
		for j, aud := range is.Audiences {
			if aud == "" {
				errs.Add(Index(Join(p, "audiences"), j), "must not be empty")
			}
		}
		switch {
		case is.JWKSURL == "" && is.JWKSFile == "":
			errs.Add(p, "one of jwks_url or jwks_file is required")
		case is.JWKSURL != "" && is.JWKSFile != "":
			errs.Add(p, "jwks_url and jwks_file are mutually exclusive")
		case is.JWKSURL != "":
			validHTTPSURL(errs, Join(p, "jwks_url"), is.JWKSURL)
		}
		if is.CAFile != "" && is.JWKSURL == "" {
			errs.Add(Join(p, "ca_file"), "only applies to jwks_url")
		}
		if len(is.Algorithms) == 0 {
			errs.Add(Join(p, "algorithms"), "needs at least one algorithm (leave it out for RS256, PS256, ES256, EdDSA)")
		}
		for j, alg := range is.Algorithms {
			if !AsymmetricAlgorithms[alg] {
				errs.Add(Index(Join(p, "algorithms"), j), "unsupported algorithm %q (allowed: RS256/384/512, PS256/384/512, ES256/384/512, EdDSA; never none or HS*)", alg)
			}
		}
		if is.MinRefreshInterval.D() < time.Second {
			errs.Add(Join(p, "min_refresh_interval"), "must be at least 1s")
		}
		if is.RefreshInterval < is.MinRefreshInterval {
			errs.Add(Join(p, "refresh_interval"), "must not be shorter than min_refresh_interval")
		}
		if is.FetchTimeout.D() < 100*time.Millisecond || is.FetchTimeout.D() > time.Minute {
			errs.Add(Join(p, "fetch_timeout"), "must be between 100ms and 1m")
		}
	}
}

// validHTTPSURL requires an absolute https URL without credentials or a
// fragment: key material and token verdicts must never travel in clear.
func validHTTPSURL(errs *Errors, path, s string) {
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Hostname() == "":
		errs.Add(path, "must be an https URL")
	case !strings.EqualFold(u.Scheme, "https"):
		errs.Add(path, "must be an https URL")
	case u.User != nil:
		errs.Add(path, "must not contain credentials")
	case u.Fragment != "":
		errs.Add(path, "must not have a fragment")
	}
}
