package httpsig

import (
	"errors"
	"strings"
)

// The kinds of failure. Every error the package returns is a *Error whose
// kind is one of these, so callers branch with errors.Is and map the kind to
// a response (see Code) without looking at the text.
var (
	// ErrNoSignature: the message carries no (applicable) signature. A 401
	// with a plain challenge, as for a missing credential.
	ErrNoSignature = errors.New("no signature")
	// ErrMalformed: Signature-Input or Signature cannot be parsed, or they
	// do not pair up label for label.
	ErrMalformed = errors.New("malformed signature fields")
	// ErrTooLarge: a signature field or parameter exceeds Limits.
	ErrTooLarge = errors.New("signature fields too large")
	// ErrUnsupported: a component, parameter or algorithm this package does
	// not implement.
	ErrUnsupported = errors.New("unsupported signature feature")
	// ErrPolicy: the signature is well formed but does not satisfy the
	// Policy (a required component is not covered, a nonce or tag is
	// missing, several signatures are candidates).
	ErrPolicy = errors.New("signature does not satisfy policy")
	// ErrAlgorithm: the algorithm is not allowed, or the alg parameter
	// disagrees with the key.
	ErrAlgorithm = errors.New("signature algorithm not acceptable")
	// ErrUnknownKey: the key resolver has no key for the keyid.
	ErrUnknownKey = errors.New("unknown signature key")
	// ErrExpired: older than the policy's maximum age, or past expires.
	ErrExpired = errors.New("signature expired")
	// ErrNotYetValid: created lies in the future beyond the clock skew.
	ErrNotYetValid = errors.New("signature created in the future")
	// ErrReplayed: the nonce has been seen before.
	ErrReplayed = errors.New("signature nonce replayed")
	// ErrReplayCheck: the replay hook failed; the signature could not be
	// checked for replay (fail closed; not the client's fault).
	ErrReplayCheck = errors.New("signature replay check failed")
	// ErrComponent: a covered component cannot be taken from the message
	// (a covered header was removed, a query parameter is missing...).
	ErrComponent = errors.New("covered component not in message")
	// ErrInvalid: the cryptographic check failed.
	ErrInvalid = errors.New("signature invalid")
	// ErrKey: key material unusable for signing or verifying (wrong type,
	// too short). A configuration error, never the client's.
	ErrKey = errors.New("unusable key material")
)

// Error is the error type of the package.
type Error struct {
	// Kind is one of the Err* sentinels above.
	Kind error
	// Label is the signature label concerned, sanitised and bounded ("" if
	// the failure concerns the fields as a whole).
	Label string
	// Detail is a short explanation built by this package; untrusted parts
	// in it are sanitised and bounded.
	Detail string
	// Err is an underlying cause (from the key resolver or replay hook),
	// if any. It is not part of Error() so that a resolver's text never
	// reaches a client by accident; log it deliberately if needed.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("httpsig: ")
	if e.Label != "" {
		b.WriteString("signature ")
		b.WriteString(e.Label)
		b.WriteString(": ")
	}
	b.WriteString(e.Kind.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap makes errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// Code is a short, stable token for an error's kind, suitable for a
// WWW-Authenticate error parameter, a problem type suffix or a metric label.
// It is "" for nil and "internal" for errors not from this package.
func Code(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range codes {
		if errors.Is(err, c.kind) {
			return c.code
		}
	}
	return "internal"
}

var codes = []struct {
	kind error
	code string
}{
	{ErrNoSignature, "missing"},
	{ErrMalformed, "malformed"},
	{ErrTooLarge, "too_large"},
	{ErrUnsupported, "unsupported"},
	{ErrPolicy, "policy"},
	{ErrAlgorithm, "algorithm"},
	{ErrUnknownKey, "unknown_key"},
	{ErrExpired, "expired"},
	{ErrNotYetValid, "not_yet_valid"},
	{ErrReplayed, "replayed"},
	{ErrReplayCheck, "replay_check"},
	{ErrComponent, "missing_component"},
	{ErrInvalid, "invalid"},
	{ErrKey, "key"},
}

func newErr(kind error, label, detail string) *Error {
	return &Error{Kind: kind, Label: label, Detail: detail}
}

// maxEcho bounds any untrusted text an error carries.
const maxEcho = 48

// sanitize makes untrusted text safe to put in an error: printable ASCII
// only (anything else becomes '?'), at most maxEcho bytes, quoted.
func sanitize(s string) string {
	cut := false
	if len(s) > maxEcho {
		s, cut = s[:maxEcho], true
	}
	b := make([]byte, 0, len(s)+5)
	b = append(b, '\'')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '\'' {
			c = '?'
		}
		b = append(b, c)
	}
	if cut {
		b = append(b, "..."...)
	}
	return string(append(b, '\''))
}
