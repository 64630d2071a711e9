package httpsig

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Result describes the signature that verified.
type Result struct {
	Label      string
	KeyID      string
	Alg        Algorithm
	Created    time.Time
	Expires    time.Time
	Nonce      string
	Tag        string
	Components []Component
}

// VerifyRequest verifies the request's signature. See Verify.
func (v *Verifier) VerifyRequest(ctx context.Context, r *Request, resolve KeyResolver) (*Result, error) {
	return v.Verify(ctx, r, resolve)
}

// VerifyResponse verifies the response's signature. See Verify.
func (v *Verifier) VerifyResponse(ctx context.Context, r *Response, resolve KeyResolver) (*Result, error) {
	return v.Verify(ctx, r, resolve)
}

// Verify finds the signatures of m the policy considers (by Label and
// Tag) and accepts the first that satisfies the policy and verifies. When
// none does, the error is that of the first candidate. Checks run
// cheapest first: policy and times, then the key, the base and the
// cryptography, and the replay hook last.
func (v *Verifier) Verify(ctx context.Context, m Message, resolve KeyResolver) (*Result, error) {
	hdr, required := http.Header(nil), v.reqComps
	if req, resp := m.parts(); req != nil {
		hdr = req.Header
	} else {
		hdr, required = resp.Header, v.respComps
	}
	sigs, err := ParseSignatures(hdr, v.p.Limits)
	if err != nil {
		return nil, err
	}
	var first error
	candidates := 0
	for _, s := range sigs {
		if v.p.Label != "" && s.Label != v.p.Label {
			continue
		}
		if v.p.Tag != "" && s.Params.Tag != v.p.Tag {
			continue
		}
		candidates++
		res, err := v.verifyOne(ctx, m, s, required, resolve)
		if err == nil {
			return res, nil
		}
		if first == nil {
			first = err
		}
	}
	if candidates == 0 {
		detail := "no signature has the required tag"
		if v.p.Label != "" {
			detail = "no signature has the required label"
		}
		return nil, newErr(ErrPolicy, "", detail)
	}
	return nil, first
}

func (v *Verifier) verifyOne(ctx context.Context, m Message, s *Signature, required []Component, resolve KeyResolver) (*Result, error) {
	l := sanitize(s.Label)
	for _, want := range required {
		if !covered(s.Components, want) {
			return nil, newErr(ErrPolicy, l, "required component "+want.ident+" is not covered")
		}
	}
	p := s.Params
	now := v.p.Now()
	switch {
	case p.Created.IsZero():
		return nil, newErr(ErrPolicy, l, "created is required")
	case p.Created.After(now.Add(v.p.ClockSkew)):
		return nil, newErr(ErrNotYetValid, l, "")
	case now.Sub(p.Created) > v.p.MaxAge+v.p.ClockSkew:
		return nil, newErr(ErrExpired, l, "older than the maximum age")
	case !p.Expires.IsZero() && now.After(p.Expires.Add(v.p.ClockSkew)):
		return nil, newErr(ErrExpired, l, "past expires")
	}
	if v.p.RequireNonce && p.Nonce == "" {
		return nil, newErr(ErrPolicy, l, "nonce is required")
	}
	if p.Alg != "" {
		if !p.Alg.known() {
			return nil, newErr(ErrUnsupported, l, "unknown algorithm "+sanitize(string(p.Alg)))
		}
		if !v.allowed(p.Alg) {
			return nil, newErr(ErrAlgorithm, l, "algorithm not allowed")
		}
	}
	if resolve == nil {
		return nil, newErr(ErrUnknownKey, l, "no key resolver")
	}
	key, err := resolve(p.KeyID)
	if err != nil {
		return nil, &Error{Kind: ErrUnknownKey, Label: l, Err: err}
	}
	if err := key.validate(); err != nil {
		return nil, &Error{Kind: ErrKey, Label: l, Detail: "resolver returned unusable key material", Err: err}
	}
	if !v.allowed(key.Alg) {
		return nil, newErr(ErrAlgorithm, l, "algorithm of the key not allowed")
	}
	if p.Alg != "" && p.Alg != key.Alg {
		return nil, newErr(ErrAlgorithm, l, "alg does not match the key")
	}
	base, err := s.Base(m, v.p.FieldTypes)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Label == "" {
			e.Label = l
		}
		return nil, err
	}
	if !key.verify(base, s.Value) {
		return nil, newErr(ErrInvalid, l, "")
	}
	if p.Nonce != "" && v.p.Replay != nil {
		ok, err := v.p.Replay(ctx, p.Nonce)
		if err != nil {
			return nil, &Error{Kind: ErrReplayCheck, Label: l, Err: err}
		}
		if !ok {
			return nil, newErr(ErrReplayed, l, "")
		}
	}
	return &Result{
		Label: s.Label, KeyID: p.KeyID, Alg: key.Alg, Created: p.Created, Expires: p.Expires,
		Nonce: p.Nonce, Tag: p.Tag, Components: s.Components,
	}, nil
}

func (v *Verifier) allowed(a Algorithm) bool {
	for _, x := range v.algorithms {
		if x == a {
			return true
		}
	}
	return false
}
