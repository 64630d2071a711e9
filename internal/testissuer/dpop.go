package testissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// DPoPKey is a client's DPoP key pair (RFC 9449): it signs proofs, and an
// access token bound to it carries its thumbprint in cnf.jkt.
type DPoPKey struct {
	// Alg is the proof algorithm: ES256, PS256 or EdDSA.
	Alg string
	// Key is the private key.
	Key crypto.Signer
}

// NewDPoPKey generates a key for alg (ES256, PS256 or EdDSA).
func NewDPoPKey(alg string) (*DPoPKey, error) {
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case "ES256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "PS256":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("testissuer: unsupported DPoP alg %q", alg)
	}
	if err != nil {
		return nil, err
	}
	return &DPoPKey{Alg: alg, Key: k}, nil
}

// Thumbprint is the key's RFC 7638 SHA-256 thumbprint, base64url: the
// value of cnf.jkt.
func (k *DPoPKey) Thumbprint() string {
	tp, err := (&jose.JSONWebKey{Key: k.Key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// PublicJWK is the public key as a JWK object.
func (k *DPoPKey) PublicJWK() map[string]any { return jwkObject(jose.JSONWebKey{Key: k.Key.Public()}) }

// PrivateJWK is the whole key, private members included, as a JWK object
// (with alg), as the demo's credentials file carries it.
func (k *DPoPKey) PrivateJWK() map[string]any {
	return jwkObject(jose.JSONWebKey{Key: k.Key, Algorithm: k.Alg, Use: "sig"})
}

func jwkObject(k jose.JSONWebKey) map[string]any {
	b, err := k.MarshalJSON()
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}

// Bind puts the key's thumbprint in claims' cnf.jkt, making the token
// signed from them DPoP-bound.
func (k *DPoPKey) Bind(claims map[string]any) map[string]any {
	claims["cnf"] = map[string]any{"jkt": k.Thumbprint()}
	return claims
}

// ProofClaims are a proof's claims for method and htu, issued at iat, for
// access token tok ("" for none): a random jti and ath.
func ProofClaims(method, htu, tok string, iat time.Time) map[string]any {
	c := map[string]any{"jti": rand.Text(), "htm": method, "htu": htu, "iat": iat.Unix()}
	if tok != "" {
		sum := sha256.Sum256([]byte(tok))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return c
}

// Proof is a correct DPoP proof by k for method and htu with access token
// tok, issued at iat.
func (k *DPoPKey) Proof(method, htu, tok string, iat time.Time) string {
	return k.SignProof(k.ProofHeader(), ProofClaims(method, htu, tok, iat))
}

// ProofHeader is a correct proof header for k: typ dpop+jwt, alg, and the
// public jwk.
func (k *DPoPKey) ProofHeader() map[string]any {
	return map[string]any{"typ": "dpop+jwt", "alg": k.Alg, "jwk": k.PublicJWK()}
}

// SignProof signs header and claims, whatever they say, with k (in k.Alg),
// so a test can put anything in a proof: another key's jwk, a private one,
// a wrong typ.
func (k *DPoPKey) SignProof(header, claims map[string]any) string {
	input := segment(mustJSON(header)) + "." + segment(mustJSON(claims))
	return input + "." + segment(k.sign([]byte(input)))
}

func (k *DPoPKey) sign(input []byte) []byte {
	switch priv := k.Key.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, input)
	case *ecdsa.PrivateKey:
		d := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, priv, d[:])
		if err != nil {
			panic(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	case *rsa.PrivateKey:
		d := sha256.Sum256(input)
		sig, err := rsa.SignPSS(rand.Reader, priv, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			panic(err)
		}
		return sig
	}
	panic(fmt.Sprintf("testissuer: cannot sign with %T", k.Key))
}
