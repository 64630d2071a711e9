package config

import (
	"crypto/sha256"
	"encoding/base64"
	"time"
)

// MTLSAuth configures the mtls authenticator: the client certificate the
// listener verified (listeners[].tls.client_auth optional or require) is
// matched against allow-lists and becomes the principal.
type MTLSAuth struct {
	// CommonNames accepted (exact subject CN). Default: none.
	CommonNames []string `yaml:"common_names"`
	// Subjects accepted (exact RFC 2253 distinguished name, as Go prints
	// it: "CN=client-a,O=Acme"). Default: none.
	Subjects []string `yaml:"subjects"`
	// DNSNames, URIs and Emails accepted as subject alternative names.
	// Default: none.
	DNSNames []string `yaml:"dns_names"`
	URIs     []string `yaml:"uris"`
	Emails   []string `yaml:"emails"`
	// SPKISHA256 are pins: base64 of the SHA-256 of the certificate's
	// SubjectPublicKeyInfo (as HPKP pin-sha256). Default: none.
	SPKISHA256 []string `yaml:"spki_sha256"`
	// AllowAnyVerified accepts every certificate the listener verified
	// when no allow-list is set. Default false: at least one allow-list
	// entry is required, so a CA shared with other systems does not open
	// the route to all of its certificates.
	AllowAnyVerified bool `yaml:"allow_any_verified"`
	// ConsumerFrom is the certificate field the consumer id is taken from:
	// common_name (default), subject, dns, uri, email, spki or thumbprint.
	ConsumerFrom string `yaml:"consumer_from"`
	// Scopes and Roles are granted to every caller this authenticator
	// accepts (certificates carry none). Default: none.
	Scopes []string `yaml:"scopes"`
	Roles  []string `yaml:"roles"`
	// CRLFiles are PEM or DER certificate revocation lists, read at load
	// time (and on every reload); a revoked certificate is rejected. Each
	// must be signed by a CA in a listener's client_ca_file. Default: none.
	CRLFiles []string `yaml:"crl_files"`
	// CRLCheckInterval is how often the CRL files are checked for changes
	// (size or modification time); changed files are read again without a
	// reload. Default 30s.
	CRLCheckInterval Duration `yaml:"crl_check_interval"`
}

// DefaultCRLCheckInterval is how often CRL files are checked by default.
const DefaultCRLCheckInterval = 30 * time.Second

// DefaultConsumerFrom is the default mtls consumer id source.
const DefaultConsumerFrom = "common_name"

func (MTLSAuth) defaults() any {
	return MTLSAuth{ConsumerFrom: DefaultConsumerFrom, CRLCheckInterval: Duration(DefaultCRLCheckInterval)}
}

// matchers reports whether any allow-list is set.
func (a *MTLSAuth) matchers() int {
	return len(a.CommonNames) + len(a.Subjects) + len(a.DNSNames) + len(a.URIs) + len(a.Emails) + len(a.SPKISHA256)
}

func (a *MTLSAuth) validate(errs *Errors, path string, c *Config) {
	if a.matchers() == 0 && !a.AllowAnyVerified {
		errs.Add(path, "needs at least one of common_names, subjects, dns_names, uris, emails, spki_sha256 (or allow_any_verified: true)")
	}
	for i, pin := range a.SPKISHA256 {
		if b, err := base64.StdEncoding.DecodeString(pin); err != nil || len(b) != sha256.Size {
			errs.Add(Index(Join(path, "spki_sha256"), i), "must be the base64 of a SHA-256 digest (44 characters)")
		}
	}
	switch a.ConsumerFrom {
	case "common_name", "subject", "dns", "uri", "email", "spki", "thumbprint":
	default:
		errs.Add(Join(path, "consumer_from"), "must be one of common_name, subject, dns, uri, email, spki, thumbprint; got %q", a.ConsumerFrom)
	}
	validScopeList(errs, Join(path, "scopes"), a.Scopes)
	validScopeList(errs, Join(path, "roles"), a.Roles)
	if d := a.CRLCheckInterval.D(); d < time.Second || d > time.Hour {
		errs.Add(Join(path, "crl_check_interval"), "must be between 1s and 1h")
	}
	if c == nil {
		return
	}
	hasClientAuth := false
	for _, l := range c.Listeners {
		if l.TLS != nil && (l.TLS.ClientAuth == "optional" || l.TLS.ClientAuth == "require") {
			hasClientAuth = true
		}
	}
	if !hasClientAuth {
		errs.Add(path, "no listener asks for client certificates: set listeners[].tls.client_auth to optional or require")
	}
}
