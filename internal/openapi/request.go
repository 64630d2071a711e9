package openapi

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/portcullis/portcullis/internal/jsonlimits"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// Metric kinds of request findings.
const (
	kindUnknownOperation = "unknown_operation"
	kindParameter        = "parameter"
	kindMediaType        = jsonlimits.KindMediaType
	kindBody             = "body"
	kindError            = "error"
)

// finding is one thing wrong, with its metric kind.
type finding struct {
	kind string
	v    problem.Violation
}

// verdict is what a check found: the status a refusal takes (404 for an
// undeclared operation, 415 for a media type, 400 otherwise) and why.
type verdict struct {
	status   int
	findings []finding
}

func (v *verdict) add(kind string, vs ...problem.Violation) {
	if len(vs) > 0 && v.status == 0 {
		v.status = http.StatusBadRequest
	}
	for _, x := range vs {
		v.findings = append(v.findings, finding{kind, x})
	}
}

// paramOptions: defaults in the document are never written into the
// request (the upstream gets the bytes that were checked); security is
// the route's auth, not the document's.
var paramOptions = &openapi3filter.Options{
	SkipSettingDefaults:     true,
	MultiError:              true,
	AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
	SchemaValidationOptions: formatOptions,
}

// checkRequest checks r against op. A non-nil error is a failure of the
// validator.
func checkRequest(ctx context.Context, r *http.Request, info *reqinfo.Info, op *operation, pathParams map[string]string) (verdict, error) {
	var v verdict
	query, qerr := url.ParseQuery(r.URL.RawQuery)
	if qerr != nil {
		// A query string parsers split differently (";", bad escapes).
		v.add(kindParameter, problem.Violation{In: "query", Reason: "the query string is malformed"})
	}
	var in *openapi3filter.RequestValidationInput
	for _, p := range op.params {
		if p.single && appearances(r, query, p.p) > 1 {
			v.add(kindParameter, problem.AtParameter(p.p.Name, p.p.In, "must appear once"))
			continue
		}
		if in == nil {
			in = &openapi3filter.RequestValidationInput{Request: r, PathParams: pathParams, QueryParams: query, Options: paramOptions}
		}
		in.Route = p.route
		if err := openapi3filter.ValidateParameter(ctx, in, p.p); err != nil {
			vs, ierr := parameterViolations(err, p.p)
			if ierr != nil {
				return v, ierr
			}
			v.add(kindParameter, vs...)
		}
	}
	body, has := info.Body, info.BodyRead && len(info.Body) > 0
	switch {
	case op.body == nil && has:
		v.add(kindBody, problem.AtPointer("", "the operation takes no request body"))
	case op.body == nil:
	case !has && op.body.required:
		v.add(kindBody, problem.AtPointer("", "a request body is required"))
	case !has:
	default:
		mt, present, ok := jsonlimits.RequestMediaType(r.Header)
		var m *openapi3.MediaType
		if ok && present {
			m = op.body.content.Get(mt.Type)
		}
		if m == nil {
			return verdict{status: http.StatusUnsupportedMediaType, findings: []finding{{kindMediaType,
				problem.Violation{In: "header", Parameter: "Content-Type", Reason: "is not a media type the operation accepts"}}}}, nil
		}
		schema := op.body.schemas[m]
		if schema == nil || !jsonlimits.IsJSON(mt.Type) {
			break
		}
		vs, err := checkJSON(body, schema)
		if err != nil {
			return v, err
		}
		v.add(kindBody, vs...)
	}
	return v, nil
}

// checkJSON decodes body strictly (duplicate keys, invalid UTF-8 and
// unpaired surrogates refused, as the JSON limits do) and checks it
// against schema.
func checkJSON(body []byte, schema bodySchema) ([]problem.Violation, error) {
	doc, err := jsonlimits.Decode(body)
	if err != nil {
		p := ""
		if v := jsonlimits.Scan(body, jsonlimits.NoLimits); v != nil {
			p = v.Pointer
		}
		return []problem.Violation{problem.AtPointer(p, "is not valid JSON")}, nil
	}
	vs, err := schema.check(doc)
	// Sorted by pointer: the validators walk maps, and a client (or a
	// test) must get the same reply for the same body.
	slices.SortStableFunc(vs, func(a, b problem.Violation) int {
		return cmp.Or(strings.Compare(deref(a.Pointer), deref(b.Pointer)), strings.Compare(a.Reason, b.Reason))
	})
	return vs, err
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// appearances counts how often parameter p was sent.
func appearances(r *http.Request, query url.Values, p *openapi3.Parameter) int {
	switch p.In {
	case openapi3.ParameterInQuery:
		return len(query[p.Name])
	case openapi3.ParameterInHeader:
		return len(r.Header.Values(p.Name))
	case openapi3.ParameterInCookie:
		return len(r.CookiesNamed(p.Name))
	}
	return 0
}
