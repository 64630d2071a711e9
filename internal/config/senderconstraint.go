package config

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// DPoPAuth lets a bearer-token authenticator (jwt, introspection) accept
// DPoP-bound access tokens (RFC 9449): "Authorization: DPoP <token>" with
// a DPoP proof header whose key the token's cnf.jkt names. Proof jti
// values are remembered in the rate-limit store (rate_limits.store): in
// memory, or in Redis, shared by every instance.
type DPoPAuth struct {
	// Required accepts DPoP only: a token sent as Bearer is refused, bound
	// or not. Default false: unbound bearer tokens are accepted as before.
	Required bool `yaml:"required"`
	// Algorithms a proof may be signed with, listed in that order in the
	// challenge's algs. Default ES256, PS256, EdDSA. Asymmetric only (an
	// HMAC "proof" keyed with a public jwk proves nothing).
	Algorithms []string `yaml:"algorithms"`
	// MaxAge is how old a proof may be by its iat, and so how long its
	// jti is remembered. Default 60s; 1s to 5m.
	MaxAge Duration `yaml:"max_age"`
	// MaxFuture is how far ahead of the gateway's clock a proof's iat may
	// be (client clock skew). Default 5s; 1s to 1m.
	MaxFuture Duration `yaml:"max_future"`
	// MaxProofBytes bounds the DPoP header. Default 8KiB; 1KiB to 16KiB.
	MaxProofBytes ByteSize `yaml:"max_proof_bytes"`
	// Nonce, when set, requires every proof to carry a current server
	// nonce (RFC 9449 §8). Default: none.
	Nonce *DPoPNonce `yaml:"nonce"`
}

// DPoPNonce configures server-provided DPoP nonces. A nonce is the current
// time step and an HMAC of it, so every instance configured with the same
// secrets accepts every other's nonces without shared storage.
type DPoPNonce struct {
	// Secrets are the HMAC keys, 1 to 4, each at least 32 bytes, read from
	// the environment or a file (never the configuration itself). The
	// first signs new nonces; all are accepted. Rotate by adding the new
	// secret second on every instance, then moving it first, then, two
	// periods later, dropping the old one. Required.
	Secrets []SecretRef `yaml:"secrets"`
	// Period is how long one nonce is current; a nonce is accepted for one
	// to two periods. Default 5m; 1s to 1h.
	Period Duration `yaml:"period"`
}

// ClientCertHeader is the request header a TLS-terminating proxy puts the
// client certificate in. It is read only on connections from
// trusted_proxies and removed from every other request before anything
// sees it.
type ClientCertHeader struct {
	// Name of the header, e.g. X-SSL-Client-Cert (nginx) or
	// X-Forwarded-Client-Cert (Envoy). Required.
	Name string `yaml:"name"`
	// Format is escaped_pem (default: one URL-encoded PEM certificate, as
	// nginx's $ssl_client_escaped_cert) or xfcc (Envoy's
	// x-forwarded-client-cert; its last element, Cert or Hash).
	Format string `yaml:"format"`
}

// DPoP defaults.
const (
	DefaultDPoPMaxAge        = 60 * time.Second
	DefaultDPoPMaxFuture     = 5 * time.Second
	DefaultDPoPMaxProofBytes = 8 << 10
	DefaultDPoPNoncePeriod   = 5 * time.Minute
	DefaultClientCertFormat  = "escaped_pem"
	// MaxDPoPNonceSecrets bounds the secrets tried per nonce check.
	MaxDPoPNonceSecrets = 4
)

// DefaultDPoPAlgorithms are the proof algorithms accepted by default.
var DefaultDPoPAlgorithms = []string{"ES256", "PS256", "EdDSA"}

func (DPoPAuth) defaults() any {
	return DPoPAuth{Algorithms: DefaultDPoPAlgorithms, MaxAge: Duration(DefaultDPoPMaxAge),
		MaxFuture: Duration(DefaultDPoPMaxFuture), MaxProofBytes: DefaultDPoPMaxProofBytes}
}

func (DPoPNonce) defaults() any { return DPoPNonce{Period: Duration(DefaultDPoPNoncePeriod)} }

func (ClientCertHeader) defaults() any { return ClientCertHeader{Format: DefaultClientCertFormat} }

func (d *DPoPAuth) validate(errs *Errors, path string) {
	ap := Join(path, "algorithms")
	if len(d.Algorithms) == 0 {
		errs.Add(ap, "needs at least one algorithm (leave it out for ES256, PS256, EdDSA)")
	}
	for i, alg := range d.Algorithms {
		switch {
		case !AsymmetricAlgorithms[alg]:
			errs.Add(Index(ap, i), "unsupported algorithm %q (allowed: RS256/384/512, PS256/384/512, ES256/384/512, EdDSA; never none or HS*)", alg)
		case slices.Contains(d.Algorithms[:i], alg):
			errs.Add(Index(ap, i), "duplicate algorithm %q", alg)
		}
	}
	if v := d.MaxAge.D(); v < time.Second || v > 5*time.Minute {
		errs.Add(Join(path, "max_age"), "must be between 1s and 5m")
	}
	if v := d.MaxFuture.D(); v < time.Second || v > time.Minute {
		errs.Add(Join(path, "max_future"), "must be between 1s and 1m")
	}
	if d.MaxProofBytes < 1<<10 || d.MaxProofBytes > 16<<10 {
		errs.Add(Join(path, "max_proof_bytes"), "must be between 1KiB and 16KiB")
	}
	if n := d.Nonce; n != nil {
		np := Join(path, "nonce")
		if len(n.Secrets) == 0 || len(n.Secrets) > MaxDPoPNonceSecrets {
			errs.Add(Join(np, "secrets"), "needs 1 to %d secrets (env or file)", MaxDPoPNonceSecrets)
		}
		for i, s := range n.Secrets {
			s.validate(errs, Index(Join(np, "secrets"), i))
		}
		if v := n.Period.D(); v < time.Second || v > time.Hour {
			errs.Add(Join(np, "period"), "must be between 1s and 1h")
		}
	}
}

// reservedCertHeaders are headers that mean something else: a proxy
// cannot use them for the client certificate.
var reservedCertHeaders = []string{"Authorization", "Cookie", "Dpop", "Host", "Forwarded",
	"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id"}

// validateSenderConstraints checks client_cert_header.
func (c *Config) validateSenderConstraints(errs *Errors) {
	h := c.ClientCertHeader
	if h == nil {
		return
	}
	p := "client_cert_header"
	validHeaderName(errs, Join(p, "name"), h.Name)
	if slices.Contains(reservedCertHeaders, http.CanonicalHeaderKey(h.Name)) {
		errs.Add(Join(p, "name"), "%s cannot carry the client certificate", h.Name)
	}
	for _, id := range []string{c.IdentityHeaders.ConsumerID, c.IdentityHeaders.Subject, c.IdentityHeaders.Scopes,
		c.IdentityHeaders.Roles, c.IdentityHeaders.Method, c.IdentityHeaders.CredentialID} {
		if strings.EqualFold(id, h.Name) && h.Name != "" {
			errs.Add(Join(p, "name"), "%s is an identity header", h.Name)
		}
	}
	switch h.Format {
	case "escaped_pem", "xfcc":
	default:
		errs.Add(Join(p, "format"), "must be escaped_pem or xfcc; got %q", h.Format)
	}
	if len(c.TrustedProxies) == 0 {
		// Reported here: emptying the list is what leaves the header
		// without anyone allowed to send it.
		errs.Add("trusted_proxies", "is empty, but client_cert_header is read only from trusted proxies")
	}
}
