package httpsig

import (
	"errors"
	"net/http"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/portcullis/portcullis/internal/httpsig/internal/sfguard"
)

// Params are a signature's metadata parameters (RFC 9421 Section 2.3).
// Absent parameters are zero.
type Params struct {
	Created time.Time
	Expires time.Time
	Nonce   string
	Alg     Algorithm
	KeyID   string
	Tag     string
}

// Signature is one labelled signature of a message: its Signature-Input
// member and its Signature value.
type Signature struct {
	Label      string
	Components []Component
	Params     Params
	Value      []byte

	// params is the @signature-params component value: the Signature-Input
	// member re-serialised strictly, which RFC 9421 Section 3.2 step 7
	// makes the verifier use (not the bytes as received).
	params string
}

// SignatureParams is the @signature-params value of the signature.
func (s *Signature) SignatureParams() string { return s.params }

// ParseSignatures parses the Signature-Input and Signature header fields
// of a message. Both absent is ErrNoSignature; otherwise every label must
// appear in both, exactly once across all field lines.
func ParseSignatures(h http.Header, lim Limits) ([]*Signature, error) {
	lim = lim.withDefaults()
	inLines, sigLines := h.Values("Signature-Input"), h.Values("Signature")
	if len(inLines) == 0 && len(sigLines) == 0 {
		return nil, newErr(ErrNoSignature, "", "")
	}
	inputs, err := parseDict(inLines, "Signature-Input", lim)
	if err != nil {
		return nil, err
	}
	values, err := parseDict(sigLines, "Signature", lim)
	if err != nil {
		return nil, err
	}
	if len(inputs.Names()) == 0 && len(values.Names()) == 0 {
		return nil, newErr(ErrNoSignature, "", "")
	}
	for _, label := range values.Names() {
		if _, ok := inputs.Get(label); !ok {
			return nil, newErr(ErrMalformed, sanitize(label), "Signature has no matching Signature-Input")
		}
	}
	sigs := make([]*Signature, 0, len(inputs.Names()))
	for _, label := range inputs.Names() {
		in, _ := inputs.Get(label)
		v, ok := values.Get(label)
		if !ok {
			return nil, newErr(ErrMalformed, sanitize(label), "Signature-Input has no matching Signature")
		}
		s, err := parseSignature(label, in, v, lim)
		if err != nil {
			return nil, err
		}
		sigs = append(sigs, s)
	}
	return sigs, nil
}

func parseDict(lines []string, field string, lim Limits) (*httpsfv.Dictionary, error) {
	d, err := sfguard.ParseDictionary(lines, lim.MaxFieldBytes)
	switch {
	case errors.Is(err, sfguard.ErrTooLarge):
		return nil, newErr(ErrTooLarge, "", field+" exceeds the size limit")
	case errors.Is(err, sfguard.ErrDuplicate):
		return nil, newErr(ErrMalformed, "", field+" repeats a label or parameter")
	case err != nil:
		return nil, newErr(ErrMalformed, "", field+" is not a Structured Field dictionary")
	}
	if len(d.Names()) > lim.MaxSignatures {
		return nil, newErr(ErrTooLarge, "", field+" has too many labels")
	}
	return d, nil
}

func parseSignature(label string, in, v httpsfv.Member, lim Limits) (*Signature, error) {
	l := sanitize(label)
	it, ok := v.(httpsfv.Item)
	if !ok {
		return nil, newErr(ErrMalformed, l, "Signature value is not a byte sequence")
	}
	value, ok := it.Value.([]byte)
	if !ok || len(value) == 0 {
		return nil, newErr(ErrMalformed, l, "Signature value is not a byte sequence")
	}
	il, ok := in.(httpsfv.InnerList)
	if !ok {
		return nil, newErr(ErrMalformed, l, "Signature-Input value is not an inner list")
	}
	if len(il.Items) > lim.MaxComponents {
		return nil, newErr(ErrTooLarge, l, "too many covered components")
	}
	s := &Signature{Label: label, Value: value}
	seen := make(map[compKey]bool, len(il.Items))
	for _, item := range il.Items {
		c, err := componentFromItem(item, lim.MaxParamBytes)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Label = l
			}
			return nil, err
		}
		if seen[c.key()] {
			return nil, newErr(ErrMalformed, l, "component "+sanitize(c.ident)+" is covered twice")
		}
		seen[c.key()] = true
		s.Components = append(s.Components, c)
	}
	if err := parseParams(il.Params, &s.Params, lim); err != nil {
		err.Label = l
		return nil, err
	}
	params, err := httpsfv.Marshal(httpsfv.List{il})
	if err != nil {
		return nil, newErr(ErrMalformed, l, "Signature-Input cannot be serialised")
	}
	s.params = params
	return s, nil
}

// parseParams reads the registered parameters. Unregistered ones are kept
// in the @signature-params value (so they are covered by the signature)
// but have no meaning here.
func parseParams(p *httpsfv.Params, out *Params, lim Limits) *Error {
	if p == nil {
		return nil
	}
	for _, name := range p.Names() {
		v, _ := p.Get(name)
		switch name {
		case "created", "expires":
			n, ok := v.(int64)
			if !ok || n < 0 {
				return newErr(ErrMalformed, "", name+" must be a non-negative integer")
			}
			t := time.Unix(n, 0)
			if name == "created" {
				out.Created = t
			} else {
				out.Expires = t
			}
		case "nonce", "alg", "keyid", "tag":
			s, ok := v.(string)
			if !ok || s == "" {
				return newErr(ErrMalformed, "", name+" must be a non-empty string")
			}
			if len(s) > lim.MaxParamBytes {
				return newErr(ErrTooLarge, "", name+" is too long")
			}
			switch name {
			case "nonce":
				out.Nonce = s
			case "alg":
				out.Alg = Algorithm(s)
			case "keyid":
				out.KeyID = s
			case "tag":
				out.Tag = s
			}
		}
	}
	if !out.Created.IsZero() && !out.Expires.IsZero() && out.Expires.Before(out.Created) {
		return newErr(ErrMalformed, "", "expires precedes created")
	}
	return nil
}
