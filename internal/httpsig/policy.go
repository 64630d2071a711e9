package httpsig

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dunglas/httpsfv"
)

// KeyResolver returns the verification key for a keyid ("" when the
// signature names none). The caller builds it per request so that the
// lookup happens within the scope of the already-authenticated consumer:
// a keyid belonging to someone else must not resolve. An error (any error)
// fails verification with ErrUnknownKey.
type KeyResolver func(keyid string) (Key, error)

// ReplayFunc records a nonce and reports whether this is its first use.
// It is called only after the signature has verified, so that nobody can
// burn a client's nonce with a forged signature. It should scope nonces to
// the consumer in ctx and remember them for at least
// Verifier.ReplayWindow. An error fails verification (ErrReplayCheck).
type ReplayFunc func(ctx context.Context, nonce string) (first bool, err error)

// Policy is what a signature must satisfy beyond being cryptographically
// valid. The zero value is usable: it requires the default components,
// created within DefaultMaxAge, and one of the asymmetric algorithms.
type Policy struct {
	// RequiredComponents must all be covered. nil takes
	// DefaultRequestComponents for requests and DefaultResponseComponents
	// for responses; an empty non-nil slice requires nothing. An
	// @target-uri covers @scheme, @authority, @path, @query and every
	// @query-param; @request-target covers @path, @query and @query-param;
	// @query covers @query-param.
	RequiredComponents []string
	// MaxAge bounds now - created. Default DefaultMaxAge (5 minutes).
	// created is always required.
	MaxAge time.Duration
	// ClockSkew is tolerated on created (future) and expires (past).
	// Default DefaultClockSkew (30 seconds).
	ClockSkew time.Duration
	// RequireNonce refuses signatures without a nonce; Replay must be set.
	RequireNonce bool
	// Replay, when set, is consulted for every signature with a nonce.
	Replay ReplayFunc
	// Algorithms allowed. Default: ed25519, ecdsa-p256-sha256 and
	// rsa-pss-sha512. hmac-sha256 only when listed.
	Algorithms []Algorithm
	// Tag, when set, is required as the signature's tag parameter and
	// selects the signatures considered.
	Tag string
	// Label, when set, is the only signature label considered. RFC 9421
	// Section 7.2.2 advises selecting by Tag instead, as intermediaries may
	// relabel.
	Label string
	// FieldTypes adds Structured Field types for sf and key.
	FieldTypes FieldTypes
	// Limits bound the parsing.
	Limits Limits
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Policy defaults.
const (
	DefaultMaxAge    = 5 * time.Minute
	DefaultClockSkew = 30 * time.Second
)

// Default required components: what a signature must cover for the
// gateway to know which operation it authorises.
var (
	DefaultRequestComponents  = []string{CompMethod, CompAuthority, CompPath, CompQuery}
	DefaultResponseComponents = []string{CompStatus}
)

var defaultAlgorithms = []Algorithm{AlgEd25519, AlgECDSAP256SHA256, AlgRSAPSSSHA512}

// Verifier verifies signatures against a Policy compiled once. It is
// immutable and safe for concurrent use.
type Verifier struct {
	p          Policy
	reqComps   []Component
	respComps  []Component
	algorithms []Algorithm
}

// NewVerifier checks and compiles a policy. Errors name the Policy field.
func NewVerifier(p Policy) (*Verifier, error) {
	v := &Verifier{p: p}
	if p.MaxAge < 0 || p.ClockSkew < 0 {
		return nil, fmt.Errorf("httpsig: policy: max age and clock skew must not be negative")
	}
	if v.p.MaxAge == 0 {
		v.p.MaxAge = DefaultMaxAge
	}
	if v.p.ClockSkew == 0 {
		v.p.ClockSkew = DefaultClockSkew
	}
	if p.RequireNonce && p.Replay == nil {
		return nil, fmt.Errorf("httpsig: policy: RequireNonce needs a Replay hook")
	}
	if p.Now == nil {
		v.p.Now = time.Now
	}
	v.p.Limits = p.Limits.withDefaults()
	if p.Tag != "" {
		if _, err := httpsfv.Marshal(httpsfv.NewItem(p.Tag)); err != nil || len(p.Tag) > v.p.Limits.MaxParamBytes {
			return nil, fmt.Errorf("httpsig: policy: tag must be a printable ASCII string")
		}
	}
	v.algorithms = defaultAlgorithms
	if len(p.Algorithms) > 0 {
		for i, a := range p.Algorithms {
			if !a.known() {
				return nil, fmt.Errorf("httpsig: policy: algorithms[%d]: unknown algorithm %q", i, a)
			}
		}
		v.algorithms = slices.Clone(p.Algorithms)
	}
	var err error
	if p.RequiredComponents == nil {
		v.reqComps, err = parseComponents(DefaultRequestComponents)
		if err == nil {
			v.respComps, err = parseComponents(DefaultResponseComponents)
		}
	} else {
		v.reqComps, err = parseComponents(p.RequiredComponents)
		v.respComps = v.reqComps
	}
	if err != nil {
		return nil, fmt.Errorf("httpsig: policy: required components: %w", err)
	}
	return v, nil
}

func parseComponents(ss []string) ([]Component, error) {
	out := make([]Component, 0, len(ss))
	for i, s := range ss {
		c, err := ParseComponent(s)
		if err != nil {
			return nil, fmt.Errorf("[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// ReplayWindow is how long a nonce must be remembered: any signature
// older than this is refused as expired anyway.
func (v *Verifier) ReplayWindow() time.Duration {
	return v.p.MaxAge + 2*v.p.ClockSkew
}

// covered reports whether sig covers want, counting the components that
// @target-uri and @request-target contain.
func covered(sig []Component, want Component) bool {
	for _, c := range sig {
		if c.key() == want.key() {
			return true
		}
		if c.Req != want.Req || want.SF || want.BS || want.TR || want.Key != "" {
			continue
		}
		switch c.Name {
		case CompTargetURI:
			switch want.Name {
			case CompScheme, CompAuthority, CompPath, CompQuery, CompQueryParam:
				return true
			}
		case CompRequestTarget:
			switch want.Name {
			case CompPath, CompQuery, CompQueryParam:
				return true
			}
		case CompQuery:
			if want.Name == CompQueryParam {
				return true
			}
		}
	}
	return false
}
