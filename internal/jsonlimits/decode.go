package jsonlimits

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

var (
	errNotOneValue = errors.New("jsonlimits: not exactly one JSON value")
	errNumberRange = errors.New("jsonlimits: number out of range")
)

// Decode parses body, strictly as Scan does (without limits), into the
// generic form schema validators read: map[string]any, []any, string,
// json.Number, bool and nil. It is also faster than encoding/json's
// reflection for this.
func Decode(body []byte) (any, error) {
	s := scanners.Get().(*scanner)
	s.buf = *bytes.NewBuffer(body)
	s.dec.Reset(&s.buf)
	v, err := decodeValue(&s.dec)
	if err == nil {
		if _, end := s.dec.ReadToken(); end != io.EOF {
			err = errNotOneValue
		}
	}
	s.buf = bytes.Buffer{}
	s.dec.Reset(&s.buf)
	scanners.Put(s)
	return v, err
}

func decodeValue(d *jsontext.Decoder) (any, error) {
	tok, err := d.ReadToken()
	if err != nil {
		return nil, err
	}
	switch tok.Kind() {
	case 'n':
		return nil, nil
	case 't', 'f':
		return tok.Bool(), nil
	case '"':
		return tok.String(), nil
	case '0':
		n := tok.String()
		if overflows([]byte(n)) {
			return nil, errNumberRange
		}
		return json.Number(n), nil
	case '{':
		m := map[string]any{}
		for d.PeekKind() != '}' {
			tok, err := d.ReadToken()
			if err != nil {
				return nil, err
			}
			name := tok.String() // before the next read voids the token
			v, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			m[name] = v
		}
		_, err := d.ReadToken()
		return m, err
	case '[':
		a := []any{}
		for d.PeekKind() != ']' {
			v, err := decodeValue(d)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err := d.ReadToken()
		return a, err
	}
	return nil, errNotOneValue
}
