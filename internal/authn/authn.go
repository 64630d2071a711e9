// Package authn owns the authentication model every authenticator follows:
// the Authenticator interface and its three outcomes (not applicable,
// unauthenticated, technical failure), the middleware that tries a route's
// authenticators in order and puts the Principal on the request, the
// WWW-Authenticate challenges of 401 responses, and the identity headers
// sent upstream. Each kind of authenticator lives in its own sub-package.
package authn

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis/portcullis/internal/principal"
)

// ErrNotApplicable means the request carries no credential of the
// authenticator's kind; the next authenticator is tried.
var ErrNotApplicable = errors.New("no credential of this kind")

// Challenger is an Authenticator that answers a request without any
// credential with several challenges (Bearer and DPoP, RFC 9449 §7.1).
type Challenger interface {
	Challenges() []Challenge
}

// Authenticator verifies one kind of credential.
type Authenticator interface {
	// Name is the configured name.
	Name() string
	// Challenge is the WWW-Authenticate challenge this authenticator answers
	// a 401 with.
	Challenge() Challenge
	// Authenticate returns the verified Principal; or an error wrapping
	// ErrNotApplicable; or an *Unauthenticated; or any other error for a
	// technical failure (a dependency down), which fails closed with 503.
	Authenticate(r *http.Request) (*principal.Principal, error)
}

// Unauthenticated is a credential that was present but failed verification.
type Unauthenticated struct {
	// Reason is for the log only. It must never contain the credential.
	Reason string
	// Code is the RFC 6750 error code: "invalid_token" (default) or
	// "invalid_request" (malformed request, e.g. two credentials).
	Code string
	// Description is client-safe, fixed text for error_description. It must
	// never echo the credential or say which check failed where that would
	// be an oracle.
	Description string
	// Challenge, when set, replaces the authenticator's challenge: the
	// scheme the client used (a DPoP challenge for a token sent with the
	// DPoP scheme, whichever check refused it).
	Challenge *Challenge
	// Header are extra response headers (DPoP-Nonce).
	Header http.Header
}

// Error implements error.
func (e *Unauthenticated) Error() string { return "unauthenticated: " + e.Reason }

// Reject returns an *Unauthenticated with code invalid_token.
func Reject(reason, description string) *Unauthenticated {
	return &Unauthenticated{Reason: reason, Code: "invalid_token", Description: description}
}

// Challenge is one WWW-Authenticate challenge (RFC 9110 §11.6.1).
type Challenge struct {
	// Scheme is e.g. "Bearer", "ApiKey", "DPoP".
	Scheme string
	// Params are auth-params in order, e.g. realm. Values are quoted.
	Params [][2]string
}

// String renders the challenge with extra params appended (error,
// error_description, scope). Quotes and backslashes in values are escaped
// and control characters dropped, so nothing can break out of the header.
func (c Challenge) String(extra ...[2]string) string {
	var b strings.Builder
	b.WriteString(c.Scheme)
	first := true
	for _, p := range append(append([][2]string(nil), c.Params...), extra...) {
		if p[1] == "" && p[0] != "realm" {
			continue
		}
		if first {
			b.WriteByte(' ')
			first = false
		} else {
			b.WriteString(", ")
		}
		b.WriteString(p[0])
		b.WriteString(`="`)
		writeQuoted(&b, p[1])
		b.WriteByte('"')
	}
	return b.String()
}

func writeQuoted(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
		default:
			b.WriteByte(c)
		}
	}
}

// BearerToken extracts the token of a single "Authorization: Bearer"
// header (RFC 6750 §2.1). It returns ErrNotApplicable when there is no
// Authorization header or it is not Bearer, and an *Unauthenticated with
// invalid_request for an empty token or several Authorization headers.
func BearerToken(r *http.Request, maxLen int) (string, error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", ErrNotApplicable
	}
	var tok string
	found := 0
	for _, v := range vals {
		scheme, rest, _ := strings.Cut(v, " ")
		if strings.EqualFold(scheme, "Bearer") {
			found++
			tok = strings.TrimSpace(rest)
		}
	}
	switch {
	case found == 0:
		return "", ErrNotApplicable
	case len(vals) > 1:
		return "", &Unauthenticated{Reason: "several Authorization headers", Code: "invalid_request", Description: "Send exactly one Authorization header."}
	case tok == "":
		return "", &Unauthenticated{Reason: "empty bearer token", Code: "invalid_request", Description: "The bearer token is empty."}
	case maxLen > 0 && len(tok) > maxLen:
		return "", Reject("bearer token too large", "The access token is invalid.")
	}
	return tok, nil
}

// OutboundError is err from an HTTP call to an identity provider (JWKS,
// introspection) without the request URL net/http puts in its errors: the
// URL's path or query may carry a secret, and the error travels to logs,
// /readyz and the access log. The cause stays wrapped for errors.Is/As.
func OutboundError(what string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// TokenID is a short, non-reversible id of a bearer token ("sha256:" and
// 16 hex digits): its credential id when it has no jti, and its key for
// brute-force counting and the log when it is rejected, so a failed and a
// later accepted use of the same token count as the same credential.
func TokenID(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return "sha256:" + hex.EncodeToString(sum[:8])
}
