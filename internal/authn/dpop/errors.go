package dpop

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/problem"
)

// Error codes of RFC 9449 §7.1 and §9 and RFC 6750 §3.1.
const (
	// CodeInvalidProof: the DPoP proof is missing where required, malformed,
	// or fails a check.
	CodeInvalidProof = "invalid_dpop_proof"
	// CodeUseNonce: the proof lacks the server's current nonce; the response
	// carries a fresh one in DPoP-Nonce.
	CodeUseNonce = "use_dpop_nonce"
	// CodeInvalidToken: the access token is not bound to the proof's key.
	CodeInvalidToken = "invalid_token"
	// CodeInvalidRequest: the request is malformed (two Authorization headers).
	CodeInvalidRequest = "invalid_request"
)

// NonceHeader is the response header carrying a server nonce (RFC 9449 §8).
const NonceHeader = "DPoP-Nonce"

// Client-facing descriptions: fixed text that never says which check failed
// nor echoes anything from the request.
const (
	descInvalidProof = "The DPoP proof is invalid."
	descUseNonce     = "Resend the request with a DPoP proof that carries the nonce in the DPoP-Nonce response header."
	descNotBound     = "The access token is not bound to the DPoP proof key."
)

// ErrNoProof means the request has no DPoP header. Whether that is an error
// is the caller's decision (a DPoP-bound token without a proof is one).
var ErrNoProof = errors.New("dpop: no DPoP header")

// ErrReplayCheck wraps a sharedstate error during the jti replay check. The
// proof was not accepted: a replay check that could not be made fails
// closed, as a technical failure (503), not as the client's fault.
var ErrReplayCheck = errors.New("dpop: replay check failed")

// Error is a proof or binding that failed verification. It unwraps to its
// *authn.Unauthenticated, so the authn middleware treats it like any
// rejected credential; Unauthorized adds what only DPoP has (DPoP-Nonce).
type Error struct {
	authn.Unauthenticated
	// Nonce is the fresh server nonce to send in DPoP-Nonce (use_dpop_nonce
	// only).
	Nonce string
}

// Error implements error. It is for the log only: Reason never holds the
// proof, the token, or an unbounded value from either.
func (e *Error) Error() string { return "dpop: " + e.Code + ": " + e.Reason }

// Unwrap returns the embedded *authn.Unauthenticated.
func (e *Error) Unwrap() error { return &e.Unauthenticated }

func invalidProof(format string, args ...any) *Error {
	return &Error{Unauthenticated: authn.Unauthenticated{
		Code: CodeInvalidProof, Reason: fmt.Sprintf(format, args...), Description: descInvalidProof}}
}

func notBound(reason string) *Error {
	return &Error{Unauthenticated: authn.Unauthenticated{
		Code: CodeInvalidToken, Reason: reason, Description: descNotBound}}
}

// Challenge is the WWW-Authenticate challenge of a resource accepting DPoP
// proofs signed with algs (RFC 9449 §7.1): DPoP realm="portcullis",
// algs="ES256 PS256 EdDSA".
func Challenge(algs []string) authn.Challenge {
	return authn.Challenge{Scheme: "DPoP", Params: [][2]string{
		{"realm", authn.Realm}, {"algs", strings.Join(algs, " ")}}}
}

// Unauthorized is the 401 problem for err, which must be (or wrap) an
// *authn.Unauthenticated: an *Error from this package, or one from the
// authenticator that verified the access token. The challenge is ch with
// the error code and fixed description (quoted by authn.Challenge, so
// nothing breaks out of the header); a use_dpop_nonce error also sets
// DPoP-Nonce. Any other error is a technical failure: 503.
func Unauthorized(ch authn.Challenge, err error) *problem.Error {
	var ue *authn.Unauthenticated
	if !errors.As(err, &ue) {
		return problem.Unavailable("auth-unavailable", "The gateway cannot verify credentials right now.", authn.RetryAfter, err)
	}
	pe := authn.Unauthorized(ch, ue)
	pe.Cause = err
	var de *Error
	if errors.As(err, &de) && de.Code == CodeUseNonce && de.Nonce != "" {
		pe.WithHeader(NonceHeader, de.Nonce)
	}
	return pe
}

// clip bounds an error that may quote untrusted input (a JSON member
// name) for a log Reason.
func clip(err error) string {
	const max = 80
	s := err.Error()
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// short bounds an untrusted value for a log Reason.
func short(s string) string {
	const max = 32
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
