package dpop

import (
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/authn"
)

// ProofHeader returns the request's one DPoP header. No header is
// ErrNoProof; several (RFC 9449 §4.3 check 1), an empty one, or one over
// maxBytes is an invalid_dpop_proof *Error. maxBytes <= 0 means
// DefaultMaxProofBytes.
func ProofHeader(h http.Header, maxBytes int) (string, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxProofBytes
	}
	vals := h.Values("DPoP")
	switch {
	case len(vals) == 0:
		return "", ErrNoProof
	case len(vals) > 1:
		return "", invalidProof("%d DPoP headers", len(vals))
	case vals[0] == "":
		return "", invalidProof("empty DPoP header")
	case len(vals[0]) > maxBytes:
		return "", invalidProof("DPoP header of %d bytes is over %d", len(vals[0]), maxBytes)
	}
	return vals[0], nil
}

// AccessToken returns the token of a single "Authorization: DPoP" header
// (RFC 9449 §7.1). It returns authn.ErrNotApplicable when there is no
// Authorization header or it is not DPoP, and an *authn.Unauthenticated
// with invalid_request for several Authorization headers or an empty
// token, and with invalid_token for one over maxLen (if maxLen > 0).
func AccessToken(r *http.Request, maxLen int) (string, error) {
	vals := r.Header.Values("Authorization")
	var tok string
	found := 0
	for _, v := range vals {
		scheme, rest, _ := strings.Cut(v, " ")
		if strings.EqualFold(scheme, "DPoP") {
			found++
			tok = strings.TrimSpace(rest)
		}
	}
	switch {
	case found == 0:
		return "", authn.ErrNotApplicable
	case len(vals) > 1:
		return "", &authn.Unauthenticated{Reason: "several Authorization headers", Code: CodeInvalidRequest, Description: "Send exactly one Authorization header."}
	case tok == "":
		return "", &authn.Unauthenticated{Reason: "empty DPoP token", Code: CodeInvalidRequest, Description: "The access token is empty."}
	case maxLen > 0 && len(tok) > maxLen:
		return "", authn.Reject("DPoP token too large", "The access token is invalid.")
	}
	return tok, nil
}
