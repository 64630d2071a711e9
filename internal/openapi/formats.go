package openapi

import (
	"encoding/json"
	"errors"
	"math"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Formats the gateway asserts, the same for 3.0 (kin-openapi's
// validator) and 3.1 (JSON Schema 2020-12) documents. Any other format is
// an annotation. They are per document, never registered globally.
var stringFormats = map[string]openapi3.StringFormatValidator{
	"date-time": openapi3.SchemaStringFormats["date-time"],
	"date":      openapi3.SchemaStringFormats["date"],
	"byte":      openapi3.SchemaStringFormats["byte"],
	"uuid":      openapi3.NewCallbackValidator(checkUUID),
	"iban":      openapi3.NewCallbackValidator(CheckIBAN),
}

var integerFormats = map[string]openapi3.IntegerFormatValidator{
	"int32": openapi3.SchemaIntegerFormats["int32"],
	"int64": openapi3.SchemaIntegerFormats["int64"],
}

// formatOptions make kin-openapi's validator use these formats.
var formatOptions = []openapi3.SchemaValidationOption{
	openapi3.WithStringFormatValidators(stringFormats),
	openapi3.WithIntegerFormatValidators(integerFormats),
}

var (
	errIBAN = errors.New("not an IBAN")
	errUUID = errors.New("not a UUID")
)

// CheckIBAN accepts an IBAN in electronic form (ISO 13616: two letters,
// two check digits, 11 to 30 letters or digits, no spaces) whose check
// digits are right (ISO 7064 MOD 97-10: the number read with the first
// four characters moved to the end and letters as 10 to 35 is 1 mod 97).
func CheckIBAN(s string) error {
	if len(s) < 15 || len(s) > 34 {
		return errIBAN
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter, digit := c >= 'A' && c <= 'Z', c >= '0' && c <= '9'
		switch {
		case i < 2 && !letter, i >= 2 && i < 4 && !digit, !letter && !digit:
			return errIBAN
		}
	}
	rem := 0
	for i := range len(s) {
		c := s[(i+4)%len(s)]
		if c >= 'A' {
			rem = (rem*100 + int(c-'A'+10)) % 97
		} else {
			rem = (rem*10 + int(c-'0')) % 97
		}
	}
	if rem != 1 {
		return errIBAN
	}
	return nil
}

// checkUUID accepts RFC 9562 UUIDs: versions 1 to 8 with the RFC variant,
// and the Nil and Max UUIDs, in either case.
func checkUUID(s string) error {
	if len(s) != 36 {
		return errUUID
	}
	zeros, effs := 0, 0
	for i := range 36 {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return errUUID
			}
			continue
		}
		switch {
		case c == '0':
			zeros++
		case c == 'f' || c == 'F':
			effs++
		case c >= '1' && c <= '9', c >= 'a' && c <= 'e', c >= 'A' && c <= 'E':
		default:
			return errUUID
		}
	}
	if zeros == 32 || effs == 32 {
		return nil
	}
	if v := s[14]; v < '1' || v > '8' {
		return errUUID
	}
	switch s[19] {
	case '8', '9', 'a', 'b', 'A', 'B':
		return nil
	}
	return errUUID
}

// registerFormats makes a JSON Schema 2020-12 compiler assert the same
// formats (its own would differ from 3.0's in corner cases).
func registerFormats(c *jsonschema.Compiler) {
	for name, f := range stringFormats {
		c.RegisterFormat(&jsonschema.Format{Name: name, Validate: func(v any) error {
			if s, ok := v.(string); ok {
				return f.Validate(s)
			}
			return nil
		}})
	}
	for name, f := range integerFormats {
		c.RegisterFormat(&jsonschema.Format{Name: name, Validate: func(v any) error {
			n, ok := v.(json.Number)
			if !ok {
				return nil
			}
			x, err := n.Float64()
			if err != nil || x != math.Trunc(x) {
				return nil // not an integer: the type keyword says so
			}
			if x < math.MinInt64 || x >= math.MaxInt64 {
				return errors.New("out of range")
			}
			return f.Validate(int64(x))
		}})
	}
	c.AssertFormat()
}
