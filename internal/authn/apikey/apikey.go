// Package apikey owns the api_key authenticator: it reads a Portcullis API
// key from the configured header (or, only where a route's authenticator
// says so, a query parameter), verifies it with the key service, and turns
// it into a Principal. Every failure (malformed, unknown, wrong secret,
// expired, revoked, rotated past grace, wrong source address, disabled
// consumer) gives the same 401 body; the reason goes to the log only.
package apikey

import (
	"context"
	"errors"
	"net/http"
	"net/netip"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// Verifier checks API keys: *keys.Service, or keys.Offline for validate.
type Verifier interface {
	Verify(ctx context.Context, presented string, client netip.Addr) (*keys.Verified, error)
}

// Deps are the long-lived services the authenticator uses.
type Deps struct {
	// Keys verifies keys. Required.
	Keys Verifier
}

// invalidKey is the one description every rejected key gets, so the
// response is no oracle for which check failed.
const invalidKey = "The API key is invalid."

// Authenticator is a configured api_key authenticator.
type Authenticator struct {
	name      string
	header    string
	query     string
	challenge authn.Challenge
	keys      Verifier
}

var _ authn.Authenticator = (*Authenticator)(nil)

// New builds the authenticator named name from its config block (defaults
// already applied by config.Load). Errors are relative to the block.
func New(name string, cfg config.APIKeyAuth, deps Deps) (*Authenticator, error) {
	if deps.Keys == nil {
		return nil, config.FieldError{Message: "needs the key store: configure the keys block"}
	}
	var errs config.Errors
	for i := 0; i < len(cfg.Header); i++ {
		c := cfg.Header[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			errs.Add("header", "invalid header name")
			break
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	h := http.CanonicalHeaderKey(cfg.Header)
	return &Authenticator{
		name: name, header: h, query: cfg.QueryParam, keys: deps.Keys,
		// The challenge names the header as configured (X-API-Key), which
		// is how people write it; lookups use the canonical form.
		challenge: authn.Challenge{Scheme: "ApiKey", Params: [][2]string{{"realm", authn.Realm}, {"header", cfg.Header}}},
	}, nil
}

var _ authn.CredentialCarrier = (*Authenticator)(nil)

// CredentialHeader implements authn.CredentialCarrier.
func (a *Authenticator) CredentialHeader() string { return a.header }

// CredentialQueryParam implements authn.CredentialCarrier.
func (a *Authenticator) CredentialQueryParam() string { return a.query }

// Name implements authn.Authenticator.
func (a *Authenticator) Name() string { return a.name }

// Challenge implements authn.Authenticator.
func (a *Authenticator) Challenge() authn.Challenge { return a.challenge }

// Authenticate implements authn.Authenticator. On success the key is
// removed from the request, so it never reaches the upstream.
func (a *Authenticator) Authenticate(r *http.Request) (*principal.Principal, error) {
	vals := r.Header[a.header]
	var fromQuery []string
	rest := ""
	if a.query != "" && r.URL.RawQuery != "" {
		fromQuery, rest = authn.TakeQueryParam(r.URL.RawQuery, a.query)
	}
	n := len(vals) + len(fromQuery)
	switch {
	case n == 0:
		return nil, authn.ErrNotApplicable
	case n > 1:
		return nil, &authn.Unauthenticated{Reason: "several API keys", Code: "invalid_request",
			Description: "Send exactly one API key."}
	}
	presented := ""
	if len(vals) == 1 {
		presented = vals[0]
	} else {
		presented = fromQuery[0]
	}
	info := reqinfo.From(r.Context())
	v, err := a.keys.Verify(r.Context(), presented, info.ClientIP)
	if err != nil {
		var rej *keys.Rejection
		if errors.As(err, &rej) {
			info.CredentialHint = rej.KeyID
			return nil, authn.Reject(rej.Reason, invalidKey)
		}
		return nil, err
	}
	if len(vals) == 1 {
		delete(r.Header, a.header)
	} else {
		r.URL.RawQuery = rest
	}
	return &principal.Principal{
		ConsumerID:    v.ConsumerID,
		Subject:       v.ConsumerID,
		Scopes:        v.Scopes,
		Groups:        v.Groups,
		Method:        principal.MethodAPIKey,
		Authenticator: a.name,
		CredentialID:  v.KeyID,
		Tier:          v.Tier,
		Expiry:        v.ExpiresAt,
	}, nil
}
