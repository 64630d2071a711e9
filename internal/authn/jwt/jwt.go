// Package jwt owns the jwt authenticator: bearer JWTs in JWS compact form,
// matched to a trusted issuer by exact "iss", signature checked with
// go-jose against that issuer's keys (package jwks) using only the
// issuer's allowed asymmetric algorithms, then exp/nbf/iat (with leeway),
// aud, required claims and claim rules. Verified tokens are remembered by
// hash until they expire (package tokencache) so hot tokens cost a hash and
// a map lookup. A token is also read with the DPoP scheme when the
// authenticator accepts DPoP, and whatever it is bound to (cnf) is checked
// on every request, cache hits included (package sender).
//
// Deliberately ignored or refused: alg none and HMAC (never in an allow
// list), keys whose type does not fit alg, RSA keys under 2048 bits,
// jku/x5u/jwk/x5c headers (keys only ever come from configuration), crit
// and nested (cty JWT) tokens, tokens typed as another kind of JWT (typ
// other than JWT or at+jwt; only at+jwt with require_typ), duplicate
// claims, tokens over the size cap.
package jwt

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/authn/claims"
	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/authn/sender"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tokencache"
)

// Deps are the long-lived services an Authenticator uses.
type Deps struct {
	// JWKS caches remote key sets across reloads. Nil: a private registry.
	JWKS *jwks.Registry
	// Cache remembers verified tokens across reloads. Nil: a private cache.
	Cache *tokencache.Cache
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// Log is the application log. Nil: discarded.
	Log *slog.Logger
	// Sender is how tokens are presented and their bindings checked (DPoP,
	// certificate-bound). Nil: sender.Plain.
	Sender *sender.Policy
}

// keySource yields the keys that may verify a token.
type keySource interface {
	Candidates(ctx context.Context, kid, alg string) ([]jwks.Key, error)
}

type staticKeys struct{ set *jwks.Set }

func (s staticKeys) Candidates(_ context.Context, kid, alg string) ([]jwks.Key, error) {
	return s.set.Candidates(kid, alg)
}

type issuer struct {
	iss       string
	audiences []string
	algs      map[string]bool
	keys      keySource
	remote    *jwks.Remote // nil for a key file
}

// Authenticator verifies bearer JWTs. It is immutable after New.
type Authenticator struct {
	name      string
	issuers   map[string]*issuer
	remotes   []*jwks.Remote // the issuers' remote key sets, for keyGeneration
	algs      []jose.SignatureAlgorithm
	leeway    time.Duration
	maxBytes  int
	rules     claims.Rules
	mapping   config.ClaimMapping
	cache     *tokencache.Cache
	cacheTTL  time.Duration
	fp        []byte
	now       func() time.Time
	sources   authn.TokenSources
	challenge authn.Challenge
	// requireAT accepts only typ at+jwt (require_typ).
	requireAT bool
	// sender reads the token (Bearer or DPoP) and checks its binding.
	sender *sender.Policy
}

var (
	_ authn.Authenticator       = (*Authenticator)(nil)
	_ authn.BearerAuthenticator = (*Authenticator)(nil)
)

// New builds the authenticator named name from its block, already
// defaulted and validated by config.Parse (config.WithDefaults for a block
// built in Go): it reads key files and registers remote JWKS (fetched
// later, not here, so validating a configuration needs no network). Errors
// carry config paths relative to the jwt block.
func New(name string, cfg config.JWTAuth, deps Deps) (*Authenticator, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.JWKS == nil {
		deps.JWKS = jwks.NewRegistry(deps.Log, deps.Now)
	}
	var errs config.Errors
	a := &Authenticator{
		name:      name,
		issuers:   map[string]*issuer{},
		leeway:    cfg.Leeway.D(),
		maxBytes:  int(cfg.MaxTokenBytes),
		rules:     claims.NewRules(cfg.RequiredClaims, cfg.ClaimRules),
		mapping:   cfg.Claims,
		cacheTTL:  cfg.CacheTTL.D(),
		now:       deps.Now,
		challenge: authn.Challenge{Scheme: "Bearer", Params: [][2]string{{"realm", authn.Realm}}},
		requireAT: cfg.RequireTyp != "",
		sender:    deps.Sender,
	}
	if a.sender == nil {
		a.sender = sender.Plain
	}
	seenAlg := map[string]bool{}
	for i, ic := range cfg.Issuers {
		p := config.Index("issuers", i)
		is := &issuer{iss: ic.Issuer, audiences: ic.Audiences, algs: map[string]bool{}}
		for _, alg := range ic.Algorithms {
			is.algs[alg] = true
			if !seenAlg[alg] {
				seenAlg[alg] = true
				a.algs = append(a.algs, jose.SignatureAlgorithm(alg))
			}
		}
		if ic.JWKSFile != "" {
			set, err := jwks.LoadFile(ic.JWKSFile, deps.Now())
			if err != nil {
				errs.Add(config.Join(p, "jwks_file"), "%v", err)
				continue
			}
			is.keys = staticKeys{set}
		} else {
			rm, err := deps.JWKS.Remote(jwks.Options{
				URL: ic.JWKSURL, CAFile: ic.CAFile, RefreshInterval: ic.RefreshInterval.D(),
				MinRefreshInterval: ic.MinRefreshInterval.D(), FetchTimeout: ic.FetchTimeout.D(),
			})
			if err != nil {
				errs.Add(config.Join(p, "ca_file"), "%v", err)
				continue
			}
			is.keys, is.remote = rm, rm
			a.remotes = append(a.remotes, rm)
		}
		a.issuers[ic.Issuer] = is
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if !cfg.DisableCache {
		a.cache = deps.Cache
		if a.cache == nil {
			a.cache = tokencache.New(0, deps.Now)
		}
		fp, _ := json.Marshal(struct {
			Name string
			Cfg  config.JWTAuth
		}{name, cfg})
		sum := sha256.Sum256(fp)
		a.fp = sum[:]
	}
	return a, nil
}

// keyGeneration changes whenever any issuer's key set drops a key; cached
// tokens are keyed on it, so none outlives the key that signed it.
func (a *Authenticator) keyGeneration() uint64 {
	var g uint64
	for _, rm := range a.remotes {
		g += rm.Removals()
	}
	return g
}
