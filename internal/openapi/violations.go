package openapi

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/portcullis/portcullis/internal/problem"
)

// The validators' errors quote the rejected value (kin-openapi's messages
// and JSON Schema's alike). Replies and logs are built here instead, from
// where the error is (pointer, parameter) and which keyword failed, in
// fixed words: the value never leaves.

// maxViolations bounds the entries of one reply.
const maxViolations = 20

// maxPointer bounds a pointer in a reply; a longer one is cut back to the
// nearest ancestor that fits (keys can be long).
const maxPointer = 256

// errInternal marks a validator failure that is not a verdict on the
// request (a document it cannot apply): the request fails closed.
type errInternal struct{ err error }

func (e errInternal) Error() string { return "openapi validator: " + e.err.Error() }
func (e errInternal) Unwrap() error { return e.err }

// keywordReasons says in the gateway's words what a failing keyword means.
var keywordReasons = map[string]string{
	"enum":             "is not one of the allowed values",
	"const":            "is not the allowed value",
	"pattern":          "does not match the pattern",
	"minimum":          "is below the minimum",
	"maximum":          "is above the maximum",
	"exclusiveMinimum": "is not above the minimum",
	"exclusiveMaximum": "is not below the maximum",
	"multipleOf":       "is not a multiple of the required step",
	"minLength":        "is shorter than the minimum length",
	"maxLength":        "is longer than the maximum length",
	"minItems":         "has fewer items than allowed",
	"maxItems":         "has more items than allowed",
	"uniqueItems":      "has duplicate items",
	"minProperties":    "has fewer properties than allowed",
	"maxProperties":    "has more properties than allowed",
	"required":         "is required",
	"readOnly":         "is read-only and cannot be sent",
	"writeOnly":        "is write-only and cannot be returned",
	"nullable":         "must not be null",
	"oneOf":            "does not match exactly one of the allowed schemas",
	"anyOf":            "matches none of the allowed schemas",
	"not":              "matches a schema that is not allowed",
	"allOf":            "does not match all of the required schemas",
	"properties":       "is not allowed",
}

// reasonFor is the reason of a failing keyword of schema s.
func reasonFor(field string, s *openapi3.Schema) string {
	switch field {
	case "type":
		if s != nil && s.Type != nil && len(*s.Type) > 0 {
			return "must be of type " + strings.Join(s.Type.Slice(), " or ")
		}
		return "has the wrong type"
	case "format":
		if s != nil && safeWord(s.Format) {
			return "is not a valid " + s.Format
		}
		return "is not in the expected format"
	}
	if r, ok := keywordReasons[field]; ok {
		return r
	}
	return "is not valid"
}

// safeWord reports whether a word from the document can go in a reply as
// is.
func safeWord(w string) bool {
	if w == "" || len(w) > 32 {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// pointerOf builds an RFC 6901 pointer from unescaped tokens, cut to
// maxPointer.
func pointerOf(base string, tokens []string) string {
	var b strings.Builder
	b.WriteString(base)
	for _, t := range tokens {
		if b.Len() > maxPointer {
			break
		}
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(t))
	}
	return fit(b.String())
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

func fit(p string) string {
	for len(p) > maxPointer {
		p = p[:max(strings.LastIndexByte(p, '/'), 0)]
	}
	return p
}

// schemaViolations turns kin-openapi's schema errors into violations of
// the body (pointers under base). Anything else is a validator failure.
func schemaViolations(err error, base string) ([]problem.Violation, error) {
	var out []problem.Violation
	unsupported := map[string]bool{} // objects whose unknown keys are listed
	var walk func(err error) error
	walk = func(err error) error {
		var me openapi3.MultiError
		if errors.As(err, &me) {
			for _, e := range me {
				if werr := walk(e); werr != nil {
					return werr
				}
			}
			return nil
		}
		var se *openapi3.SchemaError
		if !errors.As(err, &se) {
			return errInternal{err}
		}
		p := pointerOf(base, se.JSONPointer())
		switch se.SchemaField {
		case "properties":
			// An unknown key (additionalProperties: false): the error names
			// the object; the keys are those its schema does not declare.
			if unsupported[p] {
				return nil
			}
			unsupported[p] = true
			obj, _ := se.Value.(map[string]any)
			var keys []string
			for k := range obj {
				if se.Schema == nil || se.Schema.Properties[k] == nil {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range keys {
				out = append(out, problem.AtPointer(pointerOf(p, []string{k}), keywordReasons["properties"]))
			}
			if len(keys) == 0 {
				out = append(out, problem.AtPointer(p, "has a property that is not allowed"))
			}
			return nil
		case "allOf":
			if se.Origin != nil {
				var inner openapi3.MultiError
				if errors.As(se.Origin, &inner) {
					return walk(inner)
				}
			}
		}
		out = append(out, problem.AtPointer(p, reasonFor(se.SchemaField, se.Schema)))
		return nil
	}
	if werr := walk(err); werr != nil {
		return nil, werr
	}
	return out, nil
}

// jsonSchemaViolations turns a JSON Schema 2020-12 validation error into
// violations of the body.
func jsonSchemaViolations(err error) ([]problem.Violation, error) {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, errInternal{err}
	}
	var out []problem.Violation
	var walk func(e *jsonschema.ValidationError) error
	walk = func(e *jsonschema.ValidationError) error {
		p := pointerOf("", e.InstanceLocation)
		at := func(reason string) { out = append(out, problem.AtPointer(p, reason)) }
		switch k := e.ErrorKind.(type) {
		case *kind.Schema, *kind.Group, *kind.Reference, *kind.AllOf:
			for _, c := range e.Causes {
				if err := walk(c); err != nil {
					return err
				}
			}
			if len(e.Causes) == 0 {
				at("is not valid")
			}
		case *kind.Required:
			for _, m := range k.Missing {
				out = append(out, problem.AtPointer(pointerOf(p, []string{m}), "is required"))
			}
		case *kind.DependentRequired:
			for _, m := range k.Missing {
				out = append(out, problem.AtPointer(pointerOf(p, []string{m}), "is required"))
			}
		case *kind.AdditionalProperties:
			for _, name := range k.Properties {
				out = append(out, problem.AtPointer(pointerOf(p, []string{name}), "is not allowed"))
			}
		case *kind.Type:
			want := make([]string, 0, len(k.Want))
			for _, w := range k.Want {
				if safeWord(w) {
					want = append(want, w)
				}
			}
			if len(want) == 0 {
				at("has the wrong type")
			} else {
				at("must be of type " + strings.Join(want, " or "))
			}
		case *kind.Format:
			if safeWord(k.Want) {
				at("is not a valid " + k.Want)
			} else {
				at("is not in the expected format")
			}
		case *kind.FalseSchema:
			at("is not allowed")
		case *kind.PropertyNames:
			at("has a property name that is not allowed")
		case *kind.AdditionalItems:
			at("has more items than allowed")
		case *kind.Contains, *kind.MinContains, *kind.MaxContains:
			at("does not contain the required items")
		case *kind.ContentEncoding, *kind.ContentMediaType, *kind.ContentSchema:
			at("has content that is not valid")
		case *kind.RefCycle, *kind.InvalidJsonValue:
			return errInternal{fmt.Errorf("%T at %s", k, p)}
		default:
			keywords := e.ErrorKind.KeywordPath()
			field := ""
			if len(keywords) > 0 {
				field = keywords[len(keywords)-1]
			}
			at(reasonFor(field, nil))
		}
		return nil
	}
	if err := walk(ve); err != nil {
		return nil, err
	}
	return out, nil
}

// parameterViolations turns kin-openapi's error about parameter p into
// violations of it.
func parameterViolations(err error, p *openapi3.Parameter) ([]problem.Violation, error) {
	at := func(reason string) problem.Violation { return problem.AtParameter(p.Name, p.In, reason) }
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return nil, errInternal{err}
	}
	switch {
	case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
		return []problem.Violation{at("is required")}, nil
	case errors.Is(re.Err, openapi3filter.ErrInvalidEmptyValue):
		return []problem.Violation{at("must not be empty")}, nil
	}
	var pe *openapi3filter.ParseError
	if errors.As(re.Err, &pe) {
		return []problem.Violation{at("is malformed")}, nil
	}
	inner, ierr := schemaViolations(re.Err, "")
	if ierr != nil {
		if re.Err == nil {
			return []problem.Violation{at("is not valid")}, nil
		}
		return nil, ierr
	}
	out := make([]problem.Violation, 0, len(inner))
	for _, v := range inner {
		reason := v.Reason
		if v.Pointer != nil && *v.Pointer != "" {
			// An object or array parameter: where inside it.
			reason = "at " + *v.Pointer + ": " + reason
		}
		if !slices.ContainsFunc(out, func(o problem.Violation) bool { return o.Reason == reason }) {
			out = append(out, at(reason))
		}
	}
	return out, nil
}

// describe renders violations for a log line or an error cause: pointers,
// parameters and reasons, never values.
func describe(vs []problem.Violation) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteString("; ")
		}
		switch {
		case v.Pointer != nil:
			b.WriteString("body " + strconv.Quote(*v.Pointer) + ": ")
		case v.Parameter != "":
			b.WriteString(v.In + " " + strconv.Quote(v.Parameter) + ": ")
		case v.In != "":
			b.WriteString(v.In + ": ")
		}
		b.WriteString(v.Reason)
	}
	return b.String()
}
