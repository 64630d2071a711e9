// Package dpop owns the resource server's side of DPoP (RFC 9449): reading
// the DPoP header and the "Authorization: DPoP" token, verifying a proof
// (typ, asymmetric alg from an allow-list, a public jwk that fits the alg,
// the signature, jti, htm, htu, iat, ath, nonce), refusing a replayed jti
// through a sharedstate.Store, the proof key's RFC 7638 thumbprint and the
// check that an access token's cnf.jkt names it, stateless server nonces
// shared by every instance, and the typed errors and WWW-Authenticate
// challenges of RFC 9449 §7.1.
//
// It verifies proofs, not access tokens: the caller verifies the token
// (package jwt or introspect), then calls Bind with the token's cnf claim.
// Not here: issuing tokens, the token endpoint's DPoP rules, and
// configuration (the caller builds Options from it).
package dpop

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/authn/claims"
	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/sharedstate"
)

// Defaults and limits.
const (
	// DefaultMaxAge is how old (by iat) a proof may be.
	DefaultMaxAge = 60 * time.Second
	// DefaultMaxFuture is how far in the future iat may be (client clock
	// skew).
	DefaultMaxFuture = 5 * time.Second
	// DefaultMaxProofBytes bounds the DPoP header: a PS256 proof with an
	// 8192-bit key (the largest jwks.Fits accepts) is under 4 KiB.
	DefaultMaxProofBytes = 8 << 10
	// MaxJTIBytes bounds jti; RFC 9449 asks for 96 random bits, a few dozen
	// characters.
	MaxJTIBytes = 256
	// MaxNonceBytes bounds a nonce claim before it is checked.
	MaxNonceBytes = 256
	// ReplayMargin is added to how long a jti is remembered, for clocks of
	// gateway instances that differ by up to this much.
	ReplayMargin = 5 * time.Second
	// ReplayScopePrefix starts the sharedstate Scope of every jti entry.
	ReplayScopePrefix = "dpop:"
)

// Typ is the only accepted JOSE typ of a proof (RFC 9449 §4.2).
const Typ = "dpop+jwt"

// DefaultAlgorithms are the proof algorithms accepted when none are
// configured, in the order the challenge lists them.
var DefaultAlgorithms = []string{"ES256", "PS256", "EdDSA"}

// asymmetric are the algorithms that may be configured: no "none", no HMAC
// (a jwk is public, so an HMAC "signature" proves nothing).
var asymmetric = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}

// Options configure NewVerifier. Zero values take the defaults.
type Options struct {
	// Algorithms accepted in a proof's alg; default DefaultAlgorithms.
	// Only asymmetric JWS algorithms may be listed.
	Algorithms []string
	// MaxAge is how old (now - iat) a proof may be; default DefaultMaxAge.
	MaxAge time.Duration
	// MaxFuture is how far ahead (iat - now) a proof may be; default
	// DefaultMaxFuture. Negative is invalid; there is no way to ask for 0
	// (a client one second fast would fail).
	MaxFuture time.Duration
	// MaxProofBytes bounds the DPoP header; default DefaultMaxProofBytes.
	MaxProofBytes int
	// Replay remembers every accepted jti (required). Use a store shared by
	// every instance (sharedstate.Redis) when there are several, or a proof
	// replayed to another instance is accepted. A Memory store refuses new
	// entries when full, so size it for the proof rate times MaxAge +
	// MaxFuture + ReplayMargin.
	Replay sharedstate.Store
	// Nonces, when set, requires every proof to carry a current server
	// nonce (RFC 9449 §8).
	Nonces *Nonces
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier verifies DPoP proofs. It is immutable after NewVerifier and safe
// for concurrent use.
type Verifier struct {
	algs      []string
	joseAlgs  []jose.SignatureAlgorithm
	maxAge    time.Duration
	maxFuture time.Duration
	maxBytes  int
	replay    sharedstate.Store
	nonces    *Nonces
	now       func() time.Time
	challenge authn.Challenge
}

// NewVerifier checks opts and returns a Verifier.
func NewVerifier(opts Options) (*Verifier, error) {
	v := &Verifier{
		algs: opts.Algorithms, maxAge: opts.MaxAge, maxFuture: opts.MaxFuture, maxBytes: opts.MaxProofBytes,
		replay: opts.Replay, nonces: opts.Nonces, now: opts.Now,
	}
	if len(v.algs) == 0 {
		v.algs = DefaultAlgorithms
	}
	v.algs = slices.Clone(v.algs)
	for _, a := range v.algs {
		if !slices.Contains(asymmetric, a) {
			return nil, fmt.Errorf("dpop: algorithm %q is not allowed (one of %s)", a, strings.Join(asymmetric, ", "))
		}
		if slices.Contains(v.joseAlgs, jose.SignatureAlgorithm(a)) {
			return nil, fmt.Errorf("dpop: algorithm %q is listed twice", a)
		}
		v.joseAlgs = append(v.joseAlgs, jose.SignatureAlgorithm(a))
	}
	switch {
	case v.replay == nil:
		return nil, errors.New("dpop: a replay store is required")
	case v.maxAge < 0 || v.maxFuture < 0 || v.maxBytes < 0:
		return nil, errors.New("dpop: negative MaxAge, MaxFuture or MaxProofBytes")
	}
	if v.maxAge == 0 {
		v.maxAge = DefaultMaxAge
	}
	if v.maxFuture == 0 {
		v.maxFuture = DefaultMaxFuture
	}
	if v.maxBytes == 0 {
		v.maxBytes = DefaultMaxProofBytes
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.challenge = Challenge(v.algs)
	return v, nil
}

// Challenge is the verifier's WWW-Authenticate challenge, listing its algs.
func (v *Verifier) Challenge() authn.Challenge { return v.challenge }

// Nonces returns the nonce issuer (nil if nonces are not required), for a
// caller that sends a fresh DPoP-Nonce on successful responses too.
func (v *Verifier) Nonces() *Nonces { return v.nonces }

// Request is what a proof is checked against.
type Request struct {
	// Method is the request method, compared exactly with htm.
	Method string
	// URI is the target URI as the client saw it: scheme, the public
	// authority and the path as received (r.URL.EscapedPath()); a query
	// and fragment are ignored. Behind TLS-terminating proxies neither the
	// scheme nor r.Host is what the client used, so the caller builds it
	// from configuration or trusted forwarding headers, never from
	// headers an untrusted client sent.
	URI string
	// AccessToken is the access token sent with the proof ("" if none);
	// when set, the proof's ath must be its hash.
	AccessToken string
}

// Proof is a verified proof.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof key, base64url:
	// what an access token's cnf.jkt must equal.
	JKT string
	// Key is the proof's public key.
	Key crypto.PublicKey
	// Algorithm is the proof's alg.
	Algorithm string
	// JTI is the proof's jti.
	JTI string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
	// Nonce is the proof's nonce claim ("" if none).
	Nonce string
}

// VerifyRequest reads the DPoP header of r (ProofHeader) and verifies it
// for r.Method at uri (see Request.URI) with the access token sent with it
// ("" if none). Errors as Verify, and ErrNoProof.
func (v *Verifier) VerifyRequest(r *http.Request, uri, accessToken string) (*Proof, error) {
	proof, err := ProofHeader(r.Header, v.maxBytes)
	if err != nil {
		return nil, err
	}
	return v.Verify(r.Context(), proof, Request{Method: r.Method, URI: uri, AccessToken: accessToken})
}

// Verify checks proof for req and records its jti. It returns an *Error
// (invalid_dpop_proof, or use_dpop_nonce with a fresh nonce), or an error
// wrapping ErrReplayCheck when the replay store failed: that must be a
// refusal too (503), never an acceptance.
//
// The jti is recorded last, once everything else holds, so only proofs
// signed by their own key and fit for this request take room in the store.
func (v *Verifier) Verify(ctx context.Context, proof string, req Request) (*Proof, error) {
	want, err := NormalizeURI(req.URI, true)
	if err != nil {
		return nil, invalidProof("request URI: %v", err)
	}
	p, set, err := v.parse(proof)
	if err != nil {
		return nil, err
	}
	if err := v.checkClaims(p, set, req, want); err != nil {
		return nil, err
	}
	if err := v.checkReplay(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// parse checks the compact JWS, its header and jwk, and its signature, and
// returns the proof (without claims) and its claim set.
func (v *Verifier) parse(proof string) (*Proof, claims.Set, error) {
	if len(proof) > v.maxBytes {
		return nil, nil, invalidProof("proof of %d bytes is over %d", len(proof), v.maxBytes)
	}
	if strings.Count(proof, ".") != 2 || strings.Trim(proof, base64URLAlphabet) != "" {
		return nil, nil, invalidProof("not a compact JWS")
	}
	hdrB64, _, _ := strings.Cut(proof, ".")
	raw, err := base64.RawURLEncoding.Strict().DecodeString(hdrB64)
	if err != nil {
		return nil, nil, invalidProof("header is not base64url")
	}
	hdr, err := claims.Decode(raw)
	if err != nil {
		return nil, nil, invalidProof("header: %s", clip(err))
	}
	alg, err := v.checkHeader(hdr)
	if err != nil {
		return nil, nil, err
	}
	jws, err := jose.ParseSignedCompact(proof, v.joseAlgs)
	if err != nil {
		return nil, nil, invalidProof("malformed JWS")
	}
	if len(jws.Signatures) != 1 {
		return nil, nil, invalidProof("%d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Header
	// The checks above read the header with one parser, go-jose with
	// another: they must agree on what they check.
	if h.Algorithm != alg || h.ExtraHeaders["typ"] != Typ || h.JSONWebKey == nil {
		return nil, nil, invalidProof("header parsers disagree")
	}
	jwk := h.JSONWebKey
	if !jwk.Valid() || !jwk.IsPublic() || !jwks.Fits(alg, jwk.Key) {
		return nil, nil, invalidProof("jwk does not fit alg %s", alg)
	}
	payload, err := jws.Verify(jwk.Key)
	if err != nil {
		return nil, nil, invalidProof("signature does not verify with the jwk")
	}
	set, err := claims.Decode(payload)
	if err != nil {
		return nil, nil, invalidProof("claims: %s", clip(err))
	}
	jkt, err := Thumbprint(jwk.Key)
	if err != nil {
		return nil, nil, invalidProof("%v", err)
	}
	return &Proof{JKT: jkt, Key: jwk.Key, Algorithm: alg}, set, nil
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."

// privateMembers are JWK members that carry secret material: "k" of
// symmetric keys, "oth" of multi-prime RSA, "priv" of ML-DSA.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// checkHeader checks typ, alg and the jwk's members; it returns alg.
func (v *Verifier) checkHeader(hdr claims.Set) (string, error) {
	if typ, _ := hdr["typ"].(string); typ != Typ {
		return "", invalidProof("typ is not %s", Typ)
	}
	alg, _ := hdr["alg"].(string)
	if !slices.Contains(v.algs, alg) {
		return "", invalidProof("alg %s is not allowed", short(alg))
	}
	// The key is the jwk and nothing else; crit extensions are not
	// understood, and b64 (RFC 7797) would change what is signed.
	for _, name := range []string{"crit", "b64", "jku", "x5u", "x5c", "x5t", "x5t#S256"} {
		if _, ok := hdr[name]; ok {
			return "", invalidProof("header %s is not accepted", name)
		}
	}
	jwk, ok := hdr["jwk"].(map[string]any)
	if !ok {
		return "", invalidProof("no jwk object in the header")
	}
	for _, m := range privateMembers {
		if _, ok := jwk[m]; ok {
			return "", invalidProof("jwk has private member %q", m)
		}
	}
	switch kty, _ := jwk["kty"].(string); kty {
	case "EC", "RSA", "OKP":
	case "oct":
		return "", invalidProof("jwk is a symmetric key")
	default:
		return "", invalidProof("jwk kty %s is not supported", short(kty))
	}
	if _, ok := jwk["x5c"]; ok {
		return "", invalidProof("jwk has x5c")
	}
	return alg, nil
}

// checkClaims checks jti, htm, htu, iat, ath and nonce, filling p.
func (v *Verifier) checkClaims(p *Proof, set claims.Set, req Request, wantURI string) error {
	jti, ok := set["jti"].(string)
	if !ok || jti == "" || len(jti) > MaxJTIBytes {
		return invalidProof("jti missing, not a string, or over %d bytes", MaxJTIBytes)
	}
	p.JTI = jti
	if htm, _ := set["htm"].(string); htm == "" || htm != req.Method {
		return invalidProof("htm %s is not the request method", short(htm))
	}
	htu, _ := set["htu"].(string)
	got, err := NormalizeURI(htu, false)
	if err != nil {
		return invalidProof("htu: %v", err)
	}
	if got != wantURI {
		return invalidProof("htu %s is not the request URI", short(got))
	}
	iat, ok := set["iat"].(float64)
	if !ok || math.IsNaN(iat) || math.Abs(iat) > 1e11 {
		return invalidProof("iat missing or not a number")
	}
	sec, frac := math.Modf(iat)
	p.IssuedAt = time.Unix(int64(sec), int64(frac*1e9))
	now := v.now()
	if p.IssuedAt.Before(now.Add(-v.maxAge)) {
		return invalidProof("iat is %v old, over %v", now.Sub(p.IssuedAt).Round(time.Second), v.maxAge)
	}
	if p.IssuedAt.After(now.Add(v.maxFuture)) {
		return invalidProof("iat is %v ahead, over %v", p.IssuedAt.Sub(now).Round(time.Second), v.maxFuture)
	}
	if req.AccessToken != "" {
		ath, _ := set["ath"].(string)
		if subtle.ConstantTimeCompare([]byte(ath), []byte(TokenHash(req.AccessToken))) != 1 {
			return invalidProof("ath missing or not the access token's hash")
		}
	}
	if nonce, ok := set["nonce"]; ok {
		s, isString := nonce.(string)
		if !isString || s == "" || len(s) > MaxNonceBytes {
			return invalidProof("nonce is not a string of 1 to %d bytes", MaxNonceBytes)
		}
		p.Nonce = s
	}
	if v.nonces != nil && !v.nonces.Valid(p.Nonce) {
		reason := "nonce missing"
		if p.Nonce != "" {
			reason = "nonce stale or not issued here"
		}
		return &Error{
			Unauthenticated: authn.Unauthenticated{Code: CodeUseNonce, Reason: reason, Description: descUseNonce},
			Nonce:           v.nonces.Current(),
		}
	}
	return nil
}

// checkReplay records the jti, scoped by the proof key's thumbprint: a jti
// need only be unique per key (a proof is bound to its key by the
// signature), so no client can burn another's jti values, and entries of
// different keys spread over Redis Cluster slots (the Scope is the hash
// tag) instead of one. The entry lives as long as the proof stays
// acceptable by iat, plus ReplayMargin.
func (v *Verifier) checkReplay(ctx context.Context, p *Proof) error {
	sum := sha256.Sum256([]byte(p.JTI))
	key := sharedstate.Key{Scope: ReplayScopePrefix + p.JKT, ID: base64.RawURLEncoding.EncodeToString(sum[:])}
	ttl := p.IssuedAt.Add(v.maxAge).Sub(v.now()) + ReplayMargin
	first, err := v.replay.Seen(ctx, key, ttl)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReplayCheck, err)
	}
	if !first {
		return invalidProof("jti replayed")
	}
	return nil
}

// TokenHash is the ath of an access token: base64url(SHA-256(token)).
func TokenHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
