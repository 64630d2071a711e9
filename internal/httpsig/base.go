package httpsig

import (
	"bytes"
	"net/http"
)

// Base builds the signature base of s over m (RFC 9421 Section 2.5): one
// line per covered component, in the order covered, then the
// @signature-params line. types adds Structured Field types for the sf and
// key parameters (nil: the built-in table only).
func (s *Signature) Base(m Message, types FieldTypes) ([]byte, error) {
	return buildBase(m, s.Components, s.params, types)
}

func buildBase(m Message, comps []Component, params string, types FieldTypes) ([]byte, error) {
	var b bytes.Buffer
	b.Grow(64 * (len(comps) + 1))
	seen := make(map[compKey]bool, len(comps))
	for _, c := range comps {
		if seen[c.key()] {
			return nil, newErr(ErrMalformed, "", "component "+sanitize(c.ident)+" is covered twice")
		}
		seen[c.key()] = true
		v, err := componentValue(c, m, types)
		if err != nil {
			return nil, err
		}
		b.WriteString(c.ident)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	b.WriteString(`"@signature-params": `)
	b.WriteString(params)
	// Every value has been checked on its own; this is the backstop that
	// keeps the base ASCII and its lines the ones written above.
	out := b.Bytes()
	lines := 0
	for _, c := range out {
		if c == '\n' {
			lines++
		} else if (c < 0x20 && c != '\t') || c >= 0x7f {
			return nil, newErr(ErrComponent, "", "signature base would not be ASCII")
		}
	}
	if lines != len(comps) {
		return nil, newErr(ErrComponent, "", "a component value holds a line break")
	}
	return out, nil
}

// componentValue finds the message a component is taken from (the
// request a response answers for req) and derives its value.
func componentValue(c Component, m Message, types FieldTypes) (string, error) {
	req, resp := m.parts()
	if c.Req {
		if resp == nil {
			return "", newErr(ErrMalformed, "", sanitize(c.ident)+": req cannot be used on a request")
		}
		if resp.Request == nil {
			return "", compErr(c, "the related request is not available")
		}
		req, resp = resp.Request, nil
	}
	if c.Derived() {
		if c.Name == CompStatus {
			if resp == nil {
				return "", newErr(ErrMalformed, "", "@status only applies to a response")
			}
			return statusValue(resp.Status)
		}
		if req == nil {
			return "", newErr(ErrMalformed, "", sanitize(c.ident)+" applies to a request (use req)")
		}
		return derivedValue(c, req)
	}
	var hdr, tr http.Header
	if req != nil {
		hdr, tr = req.Header, req.Trailer
	} else {
		hdr, tr = resp.Header, resp.Trailer
	}
	if c.TR {
		hdr = tr
	}
	return fieldValue(c, hdr, types)
}
