package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is one public verification key.
type Key struct {
	// KID is the key id ("" if the JWK had none).
	KID string
	// Alg is the JWK's own "alg", which a token's alg must then equal ("" if unset).
	Alg string
	// Public is an *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	Public crypto.PublicKey
}

// Set is an immutable set of verification keys.
type Set struct {
	byKID map[string][]Key
	all   []Key
	// anyKID lets a token's kid match any key: PEM files carry no key ids.
	anyKID bool
	// FetchedAt is when the set was loaded.
	FetchedAt time.Time
}

// Errors of key selection. ErrUnknownKID and ErrKeyMismatch are the token's
// fault (401); ErrUnavailable is a technical failure (503).
var (
	ErrUnknownKID  = errors.New("no key with the token's kid")
	ErrNoKID       = errors.New("token has no kid and the key set has several keys")
	ErrKeyMismatch = errors.New("the key for the token's kid does not fit its alg")
	ErrUnavailable = errors.New("verification keys are not available")
)

// MinRSABits is the smallest RSA modulus accepted; MaxRSABits the largest,
// since verification cost grows with the modulus and an issuer's JWKS is
// not trusted to be sane.
const (
	MinRSABits = 2048
	MaxRSABits = 8192
)

// maxKeys bounds a key set; real issuers publish a handful.
const maxKeys = 100

// Dropped reports whether next lacks a key of s (by kid and public key):
// tokens verified with that key must be verified again.
func (s *Set) Dropped(next *Set) bool {
	for _, k := range s.all {
		found := false
		for _, n := range next.all {
			if n.KID == k.KID && samePublic(n.Public, k.Public) {
				found = true
				break
			}
		}
		if !found {
			return true
		}
	}
	return false
}

func samePublic(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// Len returns the number of usable keys.
func (s *Set) Len() int { return len(s.all) }

// Candidates returns the keys that may verify a token with kid and alg.
func (s *Set) Candidates(kid, alg string) ([]Key, error) {
	var keys []Key
	switch {
	case kid != "" && len(s.byKID[kid]) > 0:
		keys = s.byKID[kid]
	case kid != "" && !s.anyKID:
		return nil, ErrUnknownKID
	case kid == "" && !s.anyKID && len(s.all) != 1:
		return nil, ErrNoKID
	default:
		keys = s.all
	}
	out := make([]Key, 0, len(keys))
	for _, k := range keys {
		if (k.Alg == "" || k.Alg == alg) && Fits(alg, k.Public) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, ErrKeyMismatch
	}
	return out, nil
}

// Fits reports whether pub is the right kind of key for alg, so a token
// cannot pick a verification path the key was not made for (the HMAC/RSA
// confusion and its relatives).
func Fits(alg string, pub crypto.PublicKey) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		k, ok := pub.(*rsa.PublicKey)
		return ok && k.N.BitLen() >= MinRSABits && k.N.BitLen() <= MaxRSABits
	case "ES256":
		k, ok := pub.(*ecdsa.PublicKey)
		return ok && k.Curve == elliptic.P256()
	case "ES384":
		k, ok := pub.(*ecdsa.PublicKey)
		return ok && k.Curve == elliptic.P384()
	case "ES512":
		k, ok := pub.(*ecdsa.PublicKey)
		return ok && k.Curve == elliptic.P521()
	case "EdDSA":
		_, ok := pub.(ed25519.PublicKey)
		return ok
	}
	return false
}

// newSet indexes keys.
func newSet(keys []Key, anyKID bool, at time.Time) *Set {
	s := &Set{byKID: map[string][]Key{}, all: keys, anyKID: anyKID, FetchedAt: at}
	for _, k := range keys {
		if k.KID != "" {
			s.byKID[k.KID] = append(s.byKID[k.KID], k)
		}
	}
	return s
}

// ParseJWKS parses a JWK Set (RFC 7517 §5). Keys that cannot be used are
// skipped and reported in skipped (symmetric keys, keys not for signatures,
// RSA keys under 2048 bits, unknown key types), so one odd key published by
// an issuer does not take the others down. It fails when no key is usable.
func ParseJWKS(data []byte, at time.Time) (s *Set, skipped []string, err error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("parsing JWKS: %w", err)
	}
	if len(raw.Keys) > maxKeys {
		return nil, nil, fmt.Errorf("JWKS has %d keys; at most %d are accepted", len(raw.Keys), maxKeys)
	}
	var keys []Key
	for i, rk := range raw.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(rk); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
			continue
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			skipped = append(skipped, fmt.Sprintf("key %d (%s): use is %q, not sig", i, jwk.KeyID, jwk.Use))
			continue
		}
		k, reason := publicKey(jwk.Key)
		if reason != "" {
			skipped = append(skipped, fmt.Sprintf("key %d (%s): %s", i, jwk.KeyID, reason))
			continue
		}
		keys = append(keys, Key{KID: jwk.KeyID, Alg: jwk.Algorithm, Public: k})
	}
	if len(keys) == 0 {
		return nil, skipped, errors.New("JWKS has no usable signature key")
	}
	return newSet(keys, false, at), skipped, nil
}

// publicKey returns the public half of a supported asymmetric key, or why
// it cannot be used.
func publicKey(k any) (crypto.PublicKey, string) {
	switch t := k.(type) {
	case *rsa.PublicKey:
		if t.N.BitLen() < MinRSABits {
			return nil, fmt.Sprintf("RSA key of %d bits is under %d", t.N.BitLen(), MinRSABits)
		}
		if t.N.BitLen() > MaxRSABits {
			return nil, fmt.Sprintf("RSA key of %d bits is over %d", t.N.BitLen(), MaxRSABits)
		}
		return t, ""
	case *rsa.PrivateKey:
		return publicKey(&t.PublicKey)
	case *ecdsa.PublicKey:
		return t, ""
	case *ecdsa.PrivateKey:
		return &t.PublicKey, ""
	case ed25519.PublicKey:
		return t, ""
	case ed25519.PrivateKey:
		return t.Public(), ""
	case []byte:
		return nil, "symmetric keys are never accepted"
	}
	return nil, fmt.Sprintf("unsupported key type %T", k)
}

// ParsePEM parses PEM public keys ("PUBLIC KEY", "RSA PUBLIC KEY") and
// certificates (their public key is used; the certificate is not
// validated). PEM keys have no kid, so any kid a token names may match them.
func ParsePEM(data []byte, at time.Time) (*Set, error) {
	var keys []Key
	for n := 0; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var (
			pub any
			err error
		)
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = c.PublicKey
			}
		default:
			return nil, fmt.Errorf("PEM block %d: unsupported type %q (want PUBLIC KEY or CERTIFICATE; never a private key)", n, b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		k, reason := publicKey(pub)
		if reason != "" {
			return nil, fmt.Errorf("PEM block %d: %s", n, reason)
		}
		keys = append(keys, Key{KID: thumbprint(k), Public: k})
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key found")
	}
	return newSet(keys, true, at), nil
}

func thumbprint(k crypto.PublicKey) string {
	jwk := jose.JSONWebKey{Key: k}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// LoadFile reads a local JWKS (JSON) or PEM file.
func LoadFile(path string, at time.Time) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > maxBody {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxBody)
	}
	if strings.HasPrefix(strings.TrimSpace(string(data)), "{") {
		s, _, err := ParseJWKS(data, at)
		return s, err
	}
	return ParsePEM(data, at)
}
