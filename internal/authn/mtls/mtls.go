// Package mtls owns the mtls authenticator: the client certificate the
// listener already verified against its client CA bundle
// (listeners[].tls.client_auth) is checked again for validity on the
// gateway's clock (connections outlive certificates), against revocation
// lists, and against allow-lists (subject, CN, DNS/URI/email SAN, SPKI
// pin), and becomes the principal.
package mtls

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// Deps are what an Authenticator is built with.
type Deps struct {
	// ClientCAFiles are the listeners' client CA bundles; revocation lists
	// must be signed by one of their certificates.
	ClientCAFiles []string
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Log is the application log. Nil: discarded.
	Log *slog.Logger
}

// Authenticator authenticates callers by their verified client
// certificate. It is immutable after New.
type Authenticator struct {
	name                             string
	consumerFrom                     string
	allowAny                         bool
	cns, subjects, dns, uris, emails map[string]bool
	pins                             map[[sha256.Size]byte]bool
	scopes, roles                    []string
	crls                             *crlWatch // nil: no crl_files
	now                              func() time.Time
	challenge                        authn.Challenge
}

var _ authn.Authenticator = (*Authenticator)(nil)

// New builds the authenticator named name from its block, already
// defaulted and validated by config.Parse (config.WithDefaults for a block
// built in Go). Errors carry config paths relative to the mtls block.
func New(name string, cfg config.MTLSAuth, deps Deps) (*Authenticator, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	a := &Authenticator{
		name: name, consumerFrom: cfg.ConsumerFrom, allowAny: cfg.AllowAnyVerified && len(cfg.CommonNames)+len(cfg.Subjects)+len(cfg.DNSNames)+len(cfg.URIs)+len(cfg.Emails)+len(cfg.SPKISHA256) == 0,
		cns: set(cfg.CommonNames), subjects: set(cfg.Subjects), dns: set(cfg.DNSNames), uris: set(cfg.URIs), emails: set(cfg.Emails),
		pins: map[[sha256.Size]byte]bool{}, scopes: cfg.Scopes, roles: cfg.Roles,
		now:       deps.Now,
		challenge: authn.Challenge{Scheme: "Certificate", Params: [][2]string{{"realm", authn.Realm}}},
	}
	for _, p := range cfg.SPKISHA256 {
		b, _ := base64.StdEncoding.DecodeString(p) // validated by Prepared
		a.pins[[sha256.Size]byte(b)] = true
	}
	if len(cfg.CRLFiles) > 0 {
		var errs config.Errors
		cas, err := loadCAs(deps.ClientCAFiles)
		if err != nil {
			errs.Add("crl_files", "%v", err)
			return nil, errs
		}
		w := &crlWatch{files: cfg.CRLFiles, cas: cas, interval: cfg.CRLCheckInterval.D(), now: deps.Now, log: deps.Log}
		set, stamps, err := w.load()
		if err != nil {
			var ie indexed
			if errors.As(err, &ie) {
				errs.Add(config.Index("crl_files", ie.i), "%v", ie.err)
				return nil, errs
			}
			return nil, err
		}
		w.revoked.Store(&set)
		w.stamps = stamps
		w.lastCheck.Store(deps.Now().UnixNano())
		a.crls = w
	}
	return a, nil
}

func set(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func loadCAs(files []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for {
			var b *pem.Block
			if b, data = pem.Decode(data); b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// Name implements authn.Authenticator.
func (a *Authenticator) Name() string { return a.name }

// Challenge implements authn.Authenticator. There is no registered HTTP
// scheme for TLS client certificates; this one tells a client what is
// expected.
func (a *Authenticator) Challenge() authn.Challenge { return a.challenge }

// Authenticate implements authn.Authenticator. A request without a
// verified client certificate is not applicable.
func (a *Authenticator) Authenticate(r *http.Request) (*principal.Principal, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil, authn.ErrNotApplicable
	}
	leaf := r.TLS.VerifiedChains[0][0]
	sum := sha256.Sum256(leaf.Raw)
	thumb := base64.RawURLEncoding.EncodeToString(sum[:])
	reject := func(reason string) error {
		reqinfo.From(r.Context()).CredentialHint = "cert:" + thumb[:16]
		return authn.Reject(reason, "The client certificate is not accepted.")
	}
	now := a.now()
	switch {
	case now.Before(leaf.NotBefore):
		return nil, reject("certificate not yet valid")
	case now.After(leaf.NotAfter):
		return nil, reject("certificate expired")
	case a.crls != nil && a.crls.isRevoked(leaf):
		return nil, reject("certificate revoked")
	case !a.allowed(leaf):
		return nil, reject("certificate not in the allow-list")
	}
	p := &principal.Principal{
		Subject: leaf.Subject.String(), Scopes: a.scopes, Roles: a.roles, Method: principal.MethodMTLS,
		Authenticator: a.name, CredentialID: "cert:" + thumb[:16], CertThumbprint: thumb, Expiry: leaf.NotAfter,
	}
	p.ConsumerID = a.consumer(leaf, thumb)
	if p.ConsumerID == "" {
		return nil, reject("certificate has no " + a.consumerFrom + " for the consumer id")
	}
	return p, nil
}

func (a *Authenticator) allowed(c *x509.Certificate) bool {
	if a.allowAny || a.cns[c.Subject.CommonName] || a.subjects[c.Subject.String()] {
		return true
	}
	for _, d := range c.DNSNames {
		if a.dns[d] {
			return true
		}
	}
	for _, u := range c.URIs {
		if a.uris[u.String()] {
			return true
		}
	}
	for _, e := range c.EmailAddresses {
		if a.emails[e] {
			return true
		}
	}
	return a.pins[sha256.Sum256(c.RawSubjectPublicKeyInfo)]
}

// consumer picks the consumer id from the configured certificate field.
func (a *Authenticator) consumer(c *x509.Certificate, thumb string) string {
	switch a.consumerFrom {
	case "subject":
		return c.Subject.String()
	case "dns":
		if len(c.DNSNames) > 0 {
			return c.DNSNames[0]
		}
	case "uri":
		if len(c.URIs) > 0 {
			return c.URIs[0].String()
		}
	case "email":
		if len(c.EmailAddresses) > 0 {
			return c.EmailAddresses[0]
		}
	case "spki":
		s := sha256.Sum256(c.RawSubjectPublicKeyInfo)
		return base64.StdEncoding.EncodeToString(s[:])
	case "thumbprint":
		return thumb
	default:
		return c.Subject.CommonName
	}
	return ""
}
