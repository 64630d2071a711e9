package httpsig

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
)

// Algorithm is an HTTP Signature Algorithms registry name (RFC 9421
// Section 6.2).
type Algorithm string

// The algorithms implemented.
const (
	AlgEd25519         Algorithm = "ed25519"
	AlgECDSAP256SHA256 Algorithm = "ecdsa-p256-sha256"
	AlgRSAPSSSHA512    Algorithm = "rsa-pss-sha512"
	// AlgHMACSHA256 is a shared-secret MAC: anyone able to verify can also
	// sign. Never allowed unless a Policy lists it.
	AlgHMACSHA256 Algorithm = "hmac-sha256"
)

func (a Algorithm) known() bool {
	switch a {
	case AlgEd25519, AlgECDSAP256SHA256, AlgRSAPSSSHA512, AlgHMACSHA256:
		return true
	}
	return false
}

// Key bounds on key material.
const (
	minRSABits   = 2048
	maxRSABits   = 8192
	minHMACBytes = 32
)

// pssOptions: RFC 9421 Section 3.3.1 fixes the salt at 64 bytes.
var pssOptions = &rsa.PSSOptions{SaltLength: 64, Hash: crypto.SHA512}

// Key is verification key material bound to exactly one algorithm, so a
// signature can never pick how its key is interpreted (the classic
// "verify an HMAC with the public key as the secret" confusion).
type Key struct {
	Alg Algorithm
	// Public is an ed25519.PublicKey, a P-256 *ecdsa.PublicKey or an
	// *rsa.PublicKey, matching Alg.
	Public crypto.PublicKey
	// Secret is the shared secret of hmac-sha256 (at least 32 bytes).
	Secret []byte
}

// NewKey binds a public key to its algorithm: Ed25519 to ed25519, P-256
// to ecdsa-p256-sha256, RSA to rsa-pss-sha512.
func NewKey(pub crypto.PublicKey) (Key, error) {
	alg, err := algFor(pub)
	if err != nil {
		return Key{}, err
	}
	k := Key{Alg: alg, Public: pub}
	return k, k.validate()
}

// NewHMACKey makes an hmac-sha256 key.
func NewHMACKey(secret []byte) (Key, error) {
	k := Key{Alg: AlgHMACSHA256, Secret: secret}
	return k, k.validate()
}

func algFor(pub crypto.PublicKey) (Algorithm, error) {
	switch pub.(type) {
	case ed25519.PublicKey:
		return AlgEd25519, nil
	case *ecdsa.PublicKey:
		return AlgECDSAP256SHA256, nil
	case *rsa.PublicKey:
		return AlgRSAPSSSHA512, nil
	}
	return "", newErr(ErrKey, "", "unsupported public key type")
}

func (k Key) validate() error {
	switch k.Alg {
	case AlgEd25519:
		p, ok := k.Public.(ed25519.PublicKey)
		if !ok || len(p) != ed25519.PublicKeySize {
			return newErr(ErrKey, "", "ed25519 needs an ed25519.PublicKey")
		}
	case AlgECDSAP256SHA256:
		p, ok := k.Public.(*ecdsa.PublicKey)
		if !ok || p == nil || p.Curve != elliptic.P256() {
			return newErr(ErrKey, "", "ecdsa-p256-sha256 needs a P-256 *ecdsa.PublicKey")
		}
	case AlgRSAPSSSHA512:
		p, ok := k.Public.(*rsa.PublicKey)
		if !ok || p == nil || p.N == nil || p.N.BitLen() < minRSABits || p.N.BitLen() > maxRSABits {
			return newErr(ErrKey, "", "rsa-pss-sha512 needs an *rsa.PublicKey of 2048 to 8192 bits")
		}
	case AlgHMACSHA256:
		if k.Public != nil || len(k.Secret) < minHMACBytes {
			return newErr(ErrKey, "", "hmac-sha256 needs a secret of at least 32 bytes and no public key")
		}
	default:
		return newErr(ErrKey, "", "unknown algorithm")
	}
	if k.Alg != AlgHMACSHA256 && len(k.Secret) != 0 {
		return newErr(ErrKey, "", "a public-key algorithm takes no secret")
	}
	return nil
}

// verify checks sig over base. The key has been validated.
func (k Key) verify(base, sig []byte) bool {
	switch k.Alg {
	case AlgEd25519:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.Public.(ed25519.PublicKey), base, sig)
	case AlgECDSAP256SHA256:
		// r||s, each zero-padded to 32 bytes (RFC 9421 Section 3.3.4);
		// ASN.1 DER is not accepted.
		if len(sig) != 64 {
			return false
		}
		h := sha256.Sum256(base)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.Public.(*ecdsa.PublicKey), h[:], r, s)
	case AlgRSAPSSSHA512:
		pub := k.Public.(*rsa.PublicKey)
		if len(sig) != pub.Size() {
			return false
		}
		h := sha512.Sum512(base)
		return rsa.VerifyPSS(pub, crypto.SHA512, h[:], sig, pssOptions) == nil
	case AlgHMACSHA256:
		m := hmac.New(sha256.New, k.Secret)
		m.Write(base)
		return hmac.Equal(m.Sum(nil), sig)
	}
	return false
}

// SigningKey is signing key material bound to one algorithm and key id.
type SigningKey struct {
	Alg   Algorithm
	KeyID string
	// Signer is an ed25519.PrivateKey, a P-256 *ecdsa.PrivateKey, an
	// *rsa.PrivateKey, or any crypto.Signer over such a key (an HSM or
	// KMS handle).
	Signer crypto.Signer
	// Secret is the shared secret of hmac-sha256.
	Secret []byte
}

// NewSigningKey binds a private key to its algorithm (see NewKey).
func NewSigningKey(keyID string, s crypto.Signer) (SigningKey, error) {
	if s == nil {
		return SigningKey{}, newErr(ErrKey, "", "no signer")
	}
	alg, err := algFor(s.Public())
	if err != nil {
		return SigningKey{}, err
	}
	k := SigningKey{Alg: alg, KeyID: keyID, Signer: s}
	return k, k.validate()
}

// NewHMACSigningKey makes an hmac-sha256 signing key.
func NewHMACSigningKey(keyID string, secret []byte) (SigningKey, error) {
	k := SigningKey{Alg: AlgHMACSHA256, KeyID: keyID, Secret: secret}
	return k, k.validate()
}

// Public is the verification key matching k.
func (k SigningKey) Public() Key {
	if k.Alg == AlgHMACSHA256 {
		return Key{Alg: k.Alg, Secret: k.Secret}
	}
	if k.Signer == nil {
		return Key{Alg: k.Alg}
	}
	return Key{Alg: k.Alg, Public: k.Signer.Public()}
}

func (k SigningKey) validate() error {
	if k.Alg != AlgHMACSHA256 && k.Signer == nil {
		return newErr(ErrKey, "", "no signer")
	}
	return k.Public().validate()
}

func (k SigningKey) sign(rand io.Reader, base []byte) ([]byte, error) {
	switch k.Alg {
	case AlgEd25519:
		return k.Signer.Sign(rand, base, crypto.Hash(0))
	case AlgECDSAP256SHA256:
		h := sha256.Sum256(base)
		der, err := k.Signer.Sign(rand, h[:], crypto.SHA256)
		if err != nil {
			return nil, err
		}
		var rs struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 256 || rs.S.BitLen() > 256 {
			return nil, errors.New("httpsig: ECDSA signer returned a malformed signature")
		}
		out := make([]byte, 64)
		rs.R.FillBytes(out[:32])
		rs.S.FillBytes(out[32:])
		return out, nil
	case AlgRSAPSSSHA512:
		h := sha512.Sum512(base)
		return k.Signer.Sign(rand, h[:], pssOptions)
	case AlgHMACSHA256:
		m := hmac.New(sha256.New, k.Secret)
		m.Write(base)
		return m.Sum(nil), nil
	}
	return nil, newErr(ErrKey, "", "unknown algorithm")
}
