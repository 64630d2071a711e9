package jwt

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/authn/claims"
	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/authn/sender"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/lifecycle"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/tokencache"
)

// Client-facing descriptions: fixed text, never the token, never which
// check failed (except expiry, which the holder can read in the token).
const (
	descInvalid = "The access token is invalid."
	descExpired = "The access token has expired."
)

// Name implements authn.Authenticator.
func (a *Authenticator) Name() string { return a.name }

// Challenge implements authn.Authenticator.
func (a *Authenticator) Challenge() authn.Challenge { return a.challenge }

// Challenges implements authn.Challenger: DPoP (with its algorithms)
// where DPoP is accepted, and Bearer unless DPoP is required.
func (a *Authenticator) Challenges() []authn.Challenge { return a.sender.Challenges(a.challenge) }

// ForRoute implements authn.BearerAuthenticator. Under FAPI 2.0 the copy
// accepts only PS256, ES256 and EdDSA (each issuer's list narrowed; the
// configuration refuses an issuer left with none) and only
// sender-constrained tokens; its cached verdicts are kept apart, so a
// token verified with another algorithm for another route is never a
// cache hit here.
func (a *Authenticator) ForRoute(rules authn.RouteRules) (authn.Authenticator, error) {
	cp := *a
	cp.sources = rules.Sources
	if !rules.FAPI2 {
		return &cp, nil
	}
	pol, err := a.sender.ForFAPI2()
	if err != nil {
		return nil, err
	}
	cp.sender = pol
	cp.issuers = make(map[string]*issuer, len(a.issuers))
	for iss, is := range a.issuers {
		n := *is
		n.algs = map[string]bool{}
		for alg := range is.algs {
			if slices.Contains(config.FAPI2Algorithms, alg) {
				n.algs[alg] = true
			}
		}
		cp.issuers[iss] = &n
	}
	cp.algs = nil
	for _, alg := range a.algs {
		if slices.Contains(config.FAPI2Algorithms, string(alg)) {
			cp.algs = append(cp.algs, alg)
		}
	}
	if a.fp != nil {
		sum := sha256.Sum256(append(slices.Clone(a.fp), "\x00fapi2"...))
		cp.fp = sum[:]
	}
	return &cp, nil
}

// Prefetch starts loading every remote JWKS that is not loaded yet, so the
// first requests find keys in place.
func (a *Authenticator) Prefetch() {
	for _, is := range a.issuers {
		if is.remote != nil {
			is.remote.Prefetch()
		}
	}
}

// Ready reports each remote JWKS's readiness as "jwks:<issuer>" (see
// jwks.Remote.Ready); issuers with a key file are always ready and not
// listed.
func (a *Authenticator) Ready() map[string]error {
	out := map[string]error{}
	for iss, is := range a.issuers {
		if is.remote != nil {
			out["jwks:"+iss] = is.remote.Ready()
		}
	}
	return out
}

// Remotes lists the remote JWKS the authenticator fetches keys from.
func (a *Authenticator) Remotes() []*jwks.Remote {
	var out []*jwks.Remote
	for _, is := range a.issuers {
		if is.remote != nil {
			out = append(out, is.remote)
		}
	}
	return out
}

var (
	_ authn.Challenger     = (*Authenticator)(nil)
	_ lifecycle.Prefetcher = (*Authenticator)(nil)
	_ lifecycle.Readiness  = (*Authenticator)(nil)
	_ jwks.User            = (*Authenticator)(nil)
)

// Authenticate implements authn.Authenticator. A bearer token that is not
// in JWS compact form (two dots) is not applicable, so an opaque token can
// fall through to an introspection authenticator on the same route.
//
// The token's binding (cnf) is checked after the token, from the cache or
// freshly verified: the cache remembers the token's verdict, never a
// request's proof or certificate.
func (a *Authenticator) Authenticate(r *http.Request) (*principal.Principal, error) {
	tok, scheme, err := a.sender.Token(r, a.maxBytes, a.sources)
	if err != nil {
		return nil, err
	}
	if strings.Count(tok, ".") != 2 {
		return nil, authn.ErrNotApplicable
	}
	p, err := a.token(r, tok)
	if err == nil {
		err = a.sender.Check(r, tok, scheme, p)
	}
	if err != nil {
		var ue *authn.Unauthenticated
		if errors.As(err, &ue) {
			reqinfo.From(r.Context()).CredentialHint = authn.TokenID(tok)
		}
		return nil, a.sender.Refusal(scheme, err)
	}
	authn.StripBearer(r, a.sources)
	return p, nil
}

// token returns tok's principal (a copy the caller may change): cached, or
// verified and cached.
func (a *Authenticator) token(r *http.Request, tok string) (*principal.Principal, error) {
	var key tokencache.Key
	if a.cache != nil {
		key = tokencache.NewKey(a.fp, tok).WithGeneration(a.keyGeneration())
		if p, ok := a.cache.Get(key); ok && p != nil {
			return p, nil
		}
	}
	p, err := a.verify(r, tok)
	if err != nil {
		return nil, err
	}
	if a.cache != nil {
		exp := p.Expiry
		if limit := a.now().Add(a.cacheTTL); limit.Before(exp) {
			exp = limit
		}
		a.cache.Put(key, p, exp, 3*len(tok))
	}
	return p, nil
}

// verify checks tok completely. Errors are *authn.Unauthenticated except a
// key set that cannot be loaded (a technical failure: 503).
func (a *Authenticator) verify(r *http.Request, tok string) (*principal.Principal, error) {
	jws, err := jose.ParseSignedCompact(tok, a.algs)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return nil, reject("alg %q is not allowed", ua.Got)
		}
		return nil, reject("malformed token")
	}
	if len(jws.Signatures) != 1 {
		return nil, reject("token has %d signatures", len(jws.Signatures))
	}
	hdr := jws.Signatures[0].Header
	if _, ok := hdr.ExtraHeaders["crit"]; ok {
		return nil, reject("crit header is not supported")
	}
	if cty, ok := hdr.ExtraHeaders["cty"].(string); ok && strings.EqualFold(cty, "JWT") {
		return nil, reject("nested JWT")
	}
	if err := a.checkTyp(hdr); err != nil {
		return nil, err
	}
	// The issuer is chosen from the unverified payload; everything about it
	// is checked again once the signature holds.
	var unverified struct {
		Iss any `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &unverified); err != nil {
		return nil, reject("payload is not a JSON object")
	}
	iss, _ := unverified.Iss.(string)
	is := a.issuers[iss]
	if is == nil {
		return nil, reject("untrusted issuer")
	}
	alg := hdr.Algorithm
	if !is.algs[alg] {
		return nil, reject("alg %q is not allowed for this issuer", alg)
	}
	keys, err := is.keys.Candidates(r.Context(), hdr.KeyID, alg)
	switch {
	case errors.Is(err, jwks.ErrUnavailable):
		return nil, err
	case err != nil:
		return nil, reject("%v", err)
	}
	var payload []byte
	for _, k := range keys {
		if payload, err = jws.Verify(k.Public); err == nil {
			break
		}
	}
	if payload == nil {
		return nil, reject("signature does not verify")
	}
	set, err := claims.Decode(payload)
	if err != nil {
		return nil, reject("claims: %v", err)
	}
	var std josejwt.Claims
	if err := json.Unmarshal(payload, &std); err != nil {
		return nil, reject("registered claims have wrong types")
	}
	if std.Expiry == nil {
		return nil, reject("no exp claim")
	}
	err = std.ValidateWithLeeway(josejwt.Expected{Issuer: is.iss, AnyAudience: is.audiences, Time: a.now()}, a.leeway)
	switch {
	case errors.Is(err, josejwt.ErrExpired):
		return nil, &authn.Unauthenticated{Reason: "token expired", Code: "invalid_token", Description: descExpired}
	case errors.Is(err, josejwt.ErrInvalidAudience):
		return nil, reject("aud not accepted")
	case errors.Is(err, josejwt.ErrNotValidYet):
		return nil, reject("nbf in the future")
	case errors.Is(err, josejwt.ErrIssuedInTheFuture):
		return nil, reject("iat in the future")
	case err != nil:
		return nil, reject("claims: %v", err)
	}
	if err := a.rules.Check(set); err != nil {
		return nil, reject("%v", err)
	}
	p, err := claims.Principal(set, a.mapping, principal.MethodJWT)
	if err != nil {
		return nil, reject("%v", err)
	}
	if p.Confirmation, err = sender.Confirmation(set); err != nil {
		return nil, reject("%v", err)
	}
	p.Authenticator = a.name
	p.Expiry = std.Expiry.Time()
	p.CredentialID = std.ID
	if p.CredentialID == "" {
		p.CredentialID = authn.TokenID(tok)
	}
	return p, nil
}

// checkTyp refuses a token that says it is some other kind of JWT (a DPoP
// proof, a logout or security event token, an ID token typed as such):
// its claims may fit an access token's, but it was never issued as one
// (RFC 8725 §3.11). typ is a media type (RFC 7515 §4.1.9): compared
// case-insensitively, "application/" optional. With require_typ: at+jwt
// only RFC 9068 access tokens pass, so a token without typ is refused too.
func (a *Authenticator) checkTyp(hdr jose.Header) *authn.Unauthenticated {
	v, present := hdr.ExtraHeaders[jose.HeaderType]
	if !present {
		if a.requireAT {
			return reject("no typ header (require_typ: at+jwt)")
		}
		return nil
	}
	typ, ok := v.(string)
	if !ok {
		return reject("typ header is not a string")
	}
	full := typ
	if !strings.Contains(typ, "/") {
		full = "application/" + typ
	}
	switch {
	case strings.EqualFold(full, "application/at+jwt"):
		return nil
	case strings.EqualFold(full, "application/jwt") && !a.requireAT:
		return nil
	case a.requireAT:
		return reject("typ %.40q is not at+jwt (require_typ: at+jwt)", typ)
	}
	return reject("typ %.40q is not an access token type", typ)
}

func reject(format string, args ...any) *authn.Unauthenticated {
	return authn.Reject(fmt.Sprintf(format, args...), descInvalid)
}
