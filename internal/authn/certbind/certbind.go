// Package certbind owns certificate-bound access tokens (RFC 8705 §3): the
// x5t#S256 thumbprint of a client certificate, the check that a token's
// cnf["x5t#S256"] names the certificate the request came with, and reading
// that certificate from the TLS connection or from a header set by a
// TLS-terminating proxy (nginx's URL-encoded PEM, Envoy's
// x-forwarded-client-cert).
//
// It does not verify the certificate (chain, validity, revocation): the
// listener or the proxy did, and a bound token only needs the certificate
// to be the one the client proved possession of in its TLS handshake.
package certbind

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"

	"github.com/portcullis/portcullis/internal/authn"
)

// CnfMember is the confirmation member holding the thumbprint.
const CnfMember = "x5t#S256"

// descNotBound is the client-facing description of a binding failure.
const descNotBound = "The access token is not bound to the client certificate."

// ErrNoCertificate means the request came with no client certificate
// (no TLS client certificate, or no forwarded-certificate header).
var ErrNoCertificate = errors.New("certbind: no client certificate")

// ClientCert is the client certificate of a request.
type ClientCert struct {
	// Thumbprint is the certificate's x5t#S256.
	Thumbprint string
	// Cert is the parsed certificate; nil when a proxy forwarded only its
	// hash (XFCC Hash without Cert).
	Cert *x509.Certificate
}

// Thumbprint is the x5t#S256 of a DER certificate: base64url (no padding)
// of its SHA-256 (RFC 8705 §3.1).
func Thumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return encodeSum(sum[:])
}

func encodeSum(sum []byte) string { return base64.RawURLEncoding.EncodeToString(sum) }

// FromTLS returns the client certificate of a TLS connection (the leaf the
// client presented), or ErrNoCertificate.
func FromTLS(cs *tls.ConnectionState) (*ClientCert, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil, ErrNoCertificate
	}
	c := cs.PeerCertificates[0]
	return &ClientCert{Thumbprint: Thumbprint(c.Raw), Cert: c}, nil
}

// BoundThumbprint returns the x5t#S256 of an access token's confirmation
// claim (cnf, as decoded from the token: a JSON object), and whether there
// is one. A token with one is certificate-bound: the caller must refuse it
// when the request has no client certificate.
func BoundThumbprint(cnf any) (string, bool) {
	m, ok := cnf.(map[string]any)
	if !ok {
		return "", false
	}
	tp, ok := m[CnfMember].(string)
	return tp, ok && tp != ""
}

// Check reports whether the access token whose cnf claim is cnf is bound
// to cert (RFC 8705 §3): cnf["x5t#S256"] must equal its thumbprint. A
// token without one is refused too: a certificate does not turn a bearer
// token into a bound one. Errors are *authn.Unauthenticated with
// invalid_token (RFC 8705 §3: 401).
func Check(cnf any, cert *ClientCert) error {
	tp, ok := BoundThumbprint(cnf)
	switch {
	case cert == nil || cert.Thumbprint == "":
		return reject("no client certificate")
	case !ok:
		return reject("access token has no cnf.x5t#S256")
	case subtle.ConstantTimeCompare([]byte(tp), []byte(cert.Thumbprint)) != 1:
		return reject("cnf.x5t#S256 is not the client certificate's thumbprint")
	}
	return nil
}

func reject(reason string) *authn.Unauthenticated { return authn.Reject(reason, descNotBound) }
