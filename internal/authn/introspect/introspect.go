// Package introspect owns the introspection authenticator: opaque bearer
// tokens checked with the authorisation server's OAuth 2.0 Token
// Introspection endpoint (RFC 7662). The gateway authenticates to the
// server with client_secret_basic, client_secret_post or a client
// certificate; honours active, exp, nbf, iss, aud, client_id and scope; and
// remembers verdicts by token hash (active until exp or cache_ttl, inactive
// for negative_cache_ttl) in a bounded cache. Concurrent requests with the
// same new token share one call. When the server is down, slow or answers
// nonsense the request fails closed with 503.
package introspect

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/authn/claims"
	"github.com/portcullis/portcullis/internal/authn/sender"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/lifecycle"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/tlsconf"
	"github.com/portcullis/portcullis/internal/tokencache"
)

// maxResponse bounds an introspection response.
const maxResponse = 256 << 10

const descInvalid = "The access token is invalid."

// Deps are the long-lived services an Authenticator uses.
type Deps struct {
	// Cache remembers verdicts across reloads. Nil: a private cache.
	Cache *tokencache.Cache
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Log is the application log. Nil: discarded.
	Log *slog.Logger
	// Sender is how tokens are presented and their bindings checked (DPoP,
	// certificate-bound). Nil: sender.Plain.
	Sender *sender.Policy
}

// Authenticator checks opaque bearer tokens with an introspection
// endpoint.
type Authenticator struct {
	name      string
	cfg       config.IntrospectionAuth
	client    *http.Client
	rules     claims.Rules
	cache     *tokencache.Cache
	fp        []byte
	now       func() time.Time
	log       *slog.Logger
	sources   authn.TokenSources
	challenge authn.Challenge
	flight    *singleflight.Group
	// sender reads the token (Bearer or DPoP) and checks its binding.
	sender *sender.Policy
}

var (
	_ authn.Authenticator       = (*Authenticator)(nil)
	_ authn.BearerAuthenticator = (*Authenticator)(nil)
	_ authn.Challenger          = (*Authenticator)(nil)
)

// New builds the authenticator named name from its block, already
// defaulted and validated by config.Parse (config.WithDefaults for a block
// built in Go), and prepares its HTTP client (CA bundle, client
// certificate). Errors carry config paths relative to the block.
func New(name string, cfg config.IntrospectionAuth, deps Deps) (*Authenticator, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Cache == nil {
		deps.Cache = tokencache.New(0, deps.Now)
	}
	if deps.Sender == nil {
		deps.Sender = sender.Plain
	}
	tc := tlsconf.NewClientConfig()
	var errs config.Errors
	if cfg.CAFile != "" {
		if pool, err := tlsconf.LoadCertPool(cfg.CAFile); err != nil {
			errs.Add("ca_file", "%v", err)
		} else {
			tc.RootCAs = pool
		}
	}
	if cfg.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertFile, cfg.ClientKeyFile)
		if err != nil {
			errs.Add("client_cert_file", "loading client certificate: %v", err)
		} else {
			tc.Certificates = []tls.Certificate{cert}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	// By value, not %+v: that prints the address of a pointer block (dpop)
	// and would change the fingerprint on every reload.
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	fp := sha256.Sum256(append([]byte(name+"|"), cfgJSON...))
	return &Authenticator{
		name: name,
		cfg:  cfg,
		client: &http.Client{
			Timeout: cfg.Timeout.D(),
			Transport: &http.Transport{
				TLSClientConfig:       tc,
				TLSHandshakeTimeout:   cfg.Timeout.D(),
				ResponseHeaderTimeout: cfg.Timeout.D(),
				MaxIdleConnsPerHost:   64,
				IdleConnTimeout:       90 * time.Second,
				ForceAttemptHTTP2:     true,
				Proxy:                 http.ProxyFromEnvironment,
			},
			// The token must only ever be sent to the configured endpoint.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		rules:     claims.NewRules(cfg.RequiredClaims, cfg.ClaimRules),
		cache:     deps.Cache,
		fp:        fp[:],
		now:       deps.Now,
		log:       deps.Log.With("authenticator", name),
		challenge: authn.Challenge{Scheme: "Bearer", Params: [][2]string{{"realm", authn.Realm}}},
		flight:    &singleflight.Group{},
		sender:    deps.Sender,
	}, nil
}

// Name implements authn.Authenticator.
func (a *Authenticator) Name() string { return a.name }

// Challenge implements authn.Authenticator.
func (a *Authenticator) Challenge() authn.Challenge { return a.challenge }

// Close releases the idle connections to the introspection endpoint when a
// reload retires the runtime that built this authenticator.
func (a *Authenticator) Close() error {
	a.client.CloseIdleConnections()
	return nil
}

var _ lifecycle.Closer = (*Authenticator)(nil)

// Challenges implements authn.Challenger: DPoP (with its algorithms)
// where DPoP is accepted, and Bearer unless DPoP is required.
func (a *Authenticator) Challenges() []authn.Challenge { return a.sender.Challenges(a.challenge) }

// ForRoute implements authn.BearerAuthenticator. Under FAPI 2.0 the copy
// accepts only sender-constrained tokens (and proofs signed with PS256,
// ES256 or EdDSA). The verdict of an introspection does not depend on
// the route, so the cache is shared: bindings are checked per request.
func (a *Authenticator) ForRoute(rules authn.RouteRules) (authn.Authenticator, error) {
	cp := *a
	cp.sources = rules.Sources
	if rules.FAPI2 {
		pol, err := a.sender.ForFAPI2()
		if err != nil {
			return nil, err
		}
		cp.sender = pol
	}
	return &cp, nil
}

// Authenticate implements authn.Authenticator. What the token is bound to
// (cnf in the response) is checked on every request, after the verdict,
// cached or not.
func (a *Authenticator) Authenticate(r *http.Request) (*principal.Principal, error) {
	tok, scheme, err := a.sender.Token(r, int(a.cfg.MaxTokenBytes), a.sources)
	if err != nil {
		return nil, err
	}
	p, err := a.verdict(r, tok)
	if err == nil {
		if err = a.sender.Check(r, tok, scheme, p); err != nil && isReject(err) {
			reqinfo.From(r.Context()).CredentialHint = authn.TokenID(tok)
		}
	}
	if err != nil {
		return nil, a.sender.Refusal(scheme, err)
	}
	authn.StripBearer(r, a.sources)
	return p, nil
}

// verdict returns tok's principal (a copy the caller may change), from the
// cache or the endpoint.
func (a *Authenticator) verdict(r *http.Request, tok string) (*principal.Principal, error) {
	key := tokencache.NewKey(a.fp, tok)
	p, found := a.cache.Get(key)
	if !found {
		v, err, _ := a.flight.Do(string(key[:]), func() (any, error) {
			p, err := a.introspect(tok)
			if p != nil && p.CredentialID == "" {
				p.CredentialID = authn.TokenID(tok) // once, before it is cached
			}
			if err == nil || isReject(err) {
				a.remember(key, p, len(tok))
			}
			return p, err
		})
		if err != nil {
			if isReject(err) {
				reqinfo.From(r.Context()).CredentialHint = authn.TokenID(tok)
			}
			return nil, err
		}
		p, _ = v.(*principal.Principal)
		if p != nil {
			cp := *p // shared by every caller of this flight
			p = &cp
		}
	}
	if p == nil {
		reqinfo.From(r.Context()).CredentialHint = authn.TokenID(tok)
		return nil, authn.Reject("token inactive or rejected (cached)", descInvalid)
	}
	return p, nil
}

func isReject(err error) bool {
	var ue *authn.Unauthenticated
	return errors.As(err, &ue)
}

// remember caches an active verdict until exp or cache_ttl, and a rejected
// one (p nil) for negative_cache_ttl.
func (a *Authenticator) remember(key tokencache.Key, p *principal.Principal, size int) {
	now := a.now()
	if p == nil {
		a.cache.Put(key, nil, now.Add(a.cfg.NegativeCacheTTL.D()), size)
		return
	}
	exp := now.Add(a.cfg.CacheTTL.D())
	if !p.Expiry.IsZero() && p.Expiry.Before(exp) {
		exp = p.Expiry
	}
	a.cache.Put(key, p, exp, 3*size)
}

// introspect calls the endpoint. The call is not tied to one request's
// context: concurrent requests share it.
func (a *Authenticator) introspect(tok string) (*principal.Principal, error) {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timeout.D())
	defer cancel()
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}
	switch a.cfg.AuthMethod {
	case "client_secret_post":
		form.Set("client_id", a.cfg.ClientID)
		form.Set("client_secret", a.cfg.ClientSecret)
	case "tls_client_auth":
		form.Set("client_id", a.cfg.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.Endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if a.cfg.AuthMethod == "client_secret_basic" {
		// RFC 6749 §2.3.1: form-encode before Basic encoding.
		req.SetBasicAuth(url.QueryEscape(a.cfg.ClientID), url.QueryEscape(a.cfg.ClientSecret))
	}
	resp, err := a.client.Do(req)
	if err != nil {
		err = authn.OutboundError("introspection", err)
		a.log.Warn("introspection call failed", "error", err.Error())
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("introspection: reading response: %w", err)
	case resp.StatusCode != http.StatusOK:
		a.log.Warn("introspection endpoint refused the call", "status", resp.StatusCode)
		return nil, fmt.Errorf("introspection: status %d", resp.StatusCode)
	case len(body) > maxResponse:
		return nil, fmt.Errorf("introspection: response larger than %d bytes", maxResponse)
	}
	set, err := claims.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("introspection: invalid response: %w", err)
	}
	active, ok := set["active"].(bool)
	if !ok {
		return nil, errors.New("introspection: response has no boolean active member")
	}
	if !active {
		return nil, authn.Reject("token inactive", descInvalid)
	}
	return a.check(set)
}

// check applies the configured policy to an active response.
func (a *Authenticator) check(set claims.Set) (*principal.Principal, error) {
	now := a.now()
	leeway := a.cfg.Leeway.D()
	exp, hasExp, err := numericDate(set, "exp")
	if err != nil {
		return nil, authn.Reject(err.Error(), descInvalid)
	}
	if hasExp && now.Add(-leeway).After(exp) {
		return nil, &authn.Unauthenticated{Reason: "token expired", Code: "invalid_token", Description: "The access token has expired."}
	}
	if nbf, ok, err := numericDate(set, "nbf"); err != nil || ok && now.Add(leeway).Before(nbf) {
		return nil, authn.Reject("nbf in the future or invalid", descInvalid)
	}
	if a.cfg.Issuer != "" && set.String("iss") != a.cfg.Issuer {
		return nil, authn.Reject("iss mismatch", descInvalid)
	}
	if len(a.cfg.Audiences) > 0 && !slices.ContainsFunc(set.List("aud"), func(s string) bool { return slices.Contains(a.cfg.Audiences, s) }) {
		return nil, authn.Reject("aud not accepted", descInvalid)
	}
	if len(a.cfg.ClientIDs) > 0 && !slices.Contains(a.cfg.ClientIDs, set.String("client_id")) {
		return nil, authn.Reject("client_id not accepted", descInvalid)
	}
	if err := a.rules.Check(set); err != nil {
		return nil, authn.Reject(err.Error(), descInvalid)
	}
	p, err := claims.Principal(set, a.cfg.Claims, principal.MethodIntrospection)
	if err != nil {
		return nil, authn.Reject(err.Error(), descInvalid)
	}
	if p.Confirmation, err = sender.Confirmation(set); err != nil {
		return nil, authn.Reject(err.Error(), descInvalid)
	}
	p.Authenticator = a.name
	if hasExp {
		p.Expiry = exp
	}
	return p, nil
}

// numericDate reads an RFC 7519 NumericDate member.
func numericDate(s claims.Set, name string) (time.Time, bool, error) {
	v, ok := s[name]
	if !ok || v == nil {
		return time.Time{}, false, nil
	}
	f, ok := v.(float64)
	if !ok || f < 0 || f > 1e11 {
		return time.Time{}, false, fmt.Errorf("%s is not a valid NumericDate", name)
	}
	return time.Unix(int64(f), 0), true, nil
}
