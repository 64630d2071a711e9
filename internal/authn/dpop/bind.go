package dpop

import (
	"crypto"
	"crypto/subtle"
	"encoding/base64"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// Thumbprint is the RFC 7638 JWK SHA-256 thumbprint of a public key
// (*ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey), base64url
// without padding: a proof's JKT, and what an issuer puts in cnf.jkt.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	if !jwk.IsPublic() {
		return "", fmt.Errorf("dpop: thumbprint of a %T, not a public key", pub)
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// BoundJKT returns the jkt of an access token's confirmation claim (cnf,
// RFC 7800, as decoded from the token: a JSON object), and whether there
// is one. A token with a jkt is DPoP-bound: the caller must refuse it when
// it comes without a proof, or with the Bearer scheme (RFC 9449 §7.2),
// since then it is being used as the plain bearer token it was made not to
// be.
func BoundJKT(cnf any) (string, bool) {
	m, ok := cnf.(map[string]any)
	if !ok {
		return "", false
	}
	jkt, ok := m["jkt"].(string)
	return jkt, ok && jkt != ""
}

// Bind checks that the access token whose cnf claim is cnf is bound to the
// key of proof p (RFC 9449 §6.1): cnf.jkt must equal p.JKT. A token with
// no cnf.jkt is not bound to anything and is refused too: a proof does not
// turn a bearer token into a bound one. Errors are invalid_token *Error.
func Bind(cnf any, p *Proof) error {
	jkt, ok := BoundJKT(cnf)
	switch {
	case p == nil:
		return notBound("no verified proof")
	case !ok:
		return notBound("access token has no cnf.jkt")
	case subtle.ConstantTimeCompare([]byte(jkt), []byte(p.JKT)) != 1:
		return notBound("cnf.jkt is not the proof key's thumbprint")
	}
	return nil
}
