package openapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/portcullis/portcullis/internal/jsonlimits"
	"github.com/portcullis/portcullis/internal/router"
)

// MaxSpecBytes bounds a document file (and each file it refers to).
const MaxSpecBytes = 8 << 20

// Document is one OpenAPI document compiled for the request path: its
// operations indexed by method and path (the document's servers are never
// consulted), each with what its parameters, bodies and responses are
// checked against. It is read-only once built, shared by the routes that
// use it.
type Document struct {
	// File is the path it was read from.
	File string
	// Files are every file it was read from (File, then the files its
	// $refs name), absolute: a change to any of them changes the document.
	Files []string
	// Version is "3.0" or "3.1".
	Version string
	ops     *router.Router[*operation]
}

// operation is one method of one path of the document.
type operation struct {
	method, path string
	// pathParams names the path template's parameters in order.
	pathParams []string
	params     []parameter
	body       *requestBody // nil: the operation takes no body
	responses  *openapi3.Responses
	// responseSchemas are the JSON response bodies' schemas.
	responseSchemas map[*openapi3.MediaType]bodySchema
}

// parameter is a parameter with what kin-openapi checks it through: the
// route carries the document (or, for a 3.1 document whose schema needs
// nothing of JSON Schema 2020-12, a 3.0 view of it, so that its schema is
// not compiled again on every request).
type parameter struct {
	p     *openapi3.Parameter
	route *routers.Route
	// single: a query, header or cookie parameter that is not an array
	// must appear once; a backend could read another of its values.
	single bool
}

type requestBody struct {
	required bool
	content  openapi3.Content
	schemas  map[*openapi3.MediaType]bodySchema
}

// Load reads, validates and compiles the document at path. Its errors
// name the document's own location of a problem where kin-openapi gives
// one.
func Load(ctx context.Context, path string) (*Document, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	data, err := readLimited(abs)
	if err != nil {
		return nil, err
	}
	files := []string{abs}
	loader := &openapi3.Loader{Context: ctx, ReadFromURIFunc: localFiles(filepath.Dir(abs), &files)}
	doc, err := loader.LoadFromDataWithPath(data, &url.URL{Path: filepath.ToSlash(abs)})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	version := doc.OpenAPIMajorMinor()
	if version != "3.0" && version != "3.1" {
		return nil, fmt.Errorf("%s: openapi %q is not supported (3.0.x or 3.1.x)", path, doc.OpenAPI)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("%s: invalid document: %w", path, err)
	}
	// $refs into other files become components of this one, so that a
	// 3.1 document compiles as one JSON Schema resource.
	doc.InternalizeRefs(ctx, nil)
	d, err := compile(doc, version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d.File, d.Files = path, files
	return d, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxSpecBytes+1)); err != nil {
		return nil, err
	}
	if buf.Len() > MaxSpecBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxSpecBytes)
	}
	return buf.Bytes(), nil
}

// localFiles lets $refs name files in dir's tree only: a document is
// configuration, and loading it must not reach the network or the rest of
// the filesystem. Every file read is added to read.
func localFiles(dir string, read *[]string) openapi3.ReadFromURIFunc {
	return func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		if (u.Scheme != "" && u.Scheme != "file") || u.Host != "" {
			return nil, fmt.Errorf("$ref %q: only files next to the document may be referenced", u.Redacted())
		}
		p := filepath.Clean(filepath.FromSlash(u.Path))
		if rel, err := filepath.Rel(dir, p); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("$ref %q: outside the document's directory", u.Path)
		}
		if !slices.Contains(*read, p) {
			*read = append(*read, p)
		}
		return readLimited(p)
	}
}

// methodOrder puts HEAD before GET: the router answers HEAD with a GET
// operation unless HEAD has its own.
var methodOrder = []string{"HEAD", "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

func compile(doc *openapi3.T, version string) (*Document, error) {
	d := &Document{Version: version, ops: router.New[*operation]()}
	v31 := version == "3.1"
	// kin-openapi compiles a 3.1 schema on every call; a parameter schema
	// that needs nothing of JSON Schema 2020-12 is checked as 3.0 instead.
	view := &openapi3.T{OpenAPI: "3.0.3"}
	var sc *schemaCompiler
	if v31 {
		var err error
		if sc, err = newSchemaCompiler(doc); err != nil {
			return nil, err
		}
	}
	bodySchemaOf := func(ref *openapi3.SchemaRef, dir direction) (bodySchema, error) {
		if v31 {
			return sc.add(ref, dir)
		}
		return newKinSchema(ref.Value, dir), nil
	}
	if doc.Paths == nil {
		return d, nil
	}
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		ops := item.Operations()
		template, names, err := routerTemplate(path)
		if err != nil {
			return nil, fmt.Errorf("paths.%s: %w", path, err)
		}
		for _, method := range methodOrder {
			op := ops[method]
			if op == nil {
				continue
			}
			where := "paths." + path + "." + strings.ToLower(method)
			o := &operation{method: method, path: path, pathParams: names, responses: op.Responses}
			route := &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
			plain := &routers.Route{Spec: view, Path: path, PathItem: item, Method: method, Operation: op}
			for _, ref := range mergedParameters(item.Parameters, op.Parameters) {
				p := ref.Value
				pr := route
				if !v31 || !needs2020(p) {
					pr = plain
				}
				o.params = append(o.params, parameter{p: p, route: pr, single: p.In != openapi3.ParameterInPath && !isArray(p)})
			}
			if rb := op.RequestBody; rb != nil && rb.Value != nil {
				o.body = &requestBody{required: rb.Value.Required, content: rb.Value.Content, schemas: map[*openapi3.MediaType]bodySchema{}}
				for mt, m := range rb.Value.Content {
					if m == nil || m.Schema == nil || m.Schema.Value == nil || !jsonMedia(mt) {
						continue
					}
					if o.body.schemas[m], err = bodySchemaOf(m.Schema, inRequest); err != nil {
						return nil, fmt.Errorf("%s.requestBody.content.%s.schema: %w", where, mt, err)
					}
				}
			}
			o.responseSchemas = map[*openapi3.MediaType]bodySchema{}
			if op.Responses != nil {
				for code, r := range op.Responses.Map() {
					if r == nil || r.Value == nil {
						continue
					}
					for mt, m := range r.Value.Content {
						if m == nil || m.Schema == nil || m.Schema.Value == nil || !jsonMedia(mt) {
							continue
						}
						if o.responseSchemas[m], err = bodySchemaOf(m.Schema, inResponse); err != nil {
							return nil, fmt.Errorf("%s.responses.%s.content.%s.schema: %w", where, code, mt, err)
						}
					}
				}
			}
			if err := d.ops.Add(router.Spec{Path: template, Methods: []string{method}}, method+" "+path, o); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
	}
	if sc != nil {
		if err := sc.compile(); err != nil {
			return nil, fmt.Errorf("compiling schemas as JSON Schema 2020-12: %w", err)
		}
	}
	return d, nil
}

// routerTemplate rewrites a path template for the gateway's router, whose
// parameter names are identifiers: "/accounts/{account-id}" becomes
// "/accounts/{p0}", and the document's names are returned in order. A
// parameter must be a whole segment.
func routerTemplate(path string) (string, []string, error) {
	if !strings.HasPrefix(path, "/") {
		return "", nil, errors.New("a path must start with /")
	}
	segs := strings.Split(path, "/")
	var names []string
	for i, s := range segs {
		open, close := strings.Count(s, "{"), strings.Count(s, "}")
		switch {
		case open == 0 && close == 0:
		case open == 1 && close == 1 && strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && len(s) > 2:
			names = append(names, s[1:len(s)-1])
			segs[i] = "{p" + strconv.Itoa(len(names)-1) + "}"
		default:
			return "", nil, fmt.Errorf("path parameters must be whole segments (%q)", s)
		}
	}
	return strings.Join(segs, "/"), names, nil
}

// mergedParameters are the path item's parameters overridden by the
// operation's (same name and location), as OpenAPI defines.
func mergedParameters(item, op openapi3.Parameters) openapi3.Parameters {
	out := slices.Clone(op)
	for _, ref := range item {
		if ref == nil || ref.Value == nil {
			continue
		}
		if op.GetByInAndName(ref.Value.In, ref.Value.Name) == nil {
			out = append(out, ref)
		}
	}
	return slices.DeleteFunc(out, func(r *openapi3.ParameterRef) bool { return r == nil || r.Value == nil })
}

func isArray(p *openapi3.Parameter) bool {
	return p.Schema != nil && p.Schema.Value != nil && p.Schema.Value.Type.Is("array")
}

// needs2020 reports whether a parameter's schema uses a keyword only JSON
// Schema 2020-12 has (kin-openapi's own test for leaving its 3.0
// validator).
func needs2020(p *openapi3.Parameter) bool {
	if len(p.Content) > 0 {
		return true
	}
	if p.Schema == nil {
		return false
	}
	found := false
	_ = p.Schema.WalkSubtree(func(_ string, r *openapi3.SchemaRef) error {
		s := r.Value
		if s != nil && (s.Const != nil || len(s.PrefixItems) > 0 || s.Contains != nil || len(s.PatternProperties) > 0 ||
			len(s.DependentSchemas) > 0 || s.PropertyNames != nil || s.UnevaluatedItems.Has != nil || s.UnevaluatedItems.Schema != nil ||
			s.UnevaluatedProperties.Has != nil || s.UnevaluatedProperties.Schema != nil || s.If != nil || s.Then != nil || s.Else != nil ||
			len(s.DependentRequired) > 0 || len(s.Defs) > 0 || s.ContentSchema != nil) {
			found = true
		}
		return nil
	})
	return found
}

// jsonMedia reports whether a media type of the document is JSON. Bodies
// under a wildcard range (*/*) are checked for their presence only: the
// schema of a range need not describe JSON.
func jsonMedia(mt string) bool {
	mt, _, _ = strings.Cut(strings.ToLower(mt), ";")
	return jsonlimits.IsJSON(strings.TrimSpace(mt))
}

// find is the operation for method and the normalised request path.
func (d *Document) find(method, path string) (*operation, map[string]string) {
	res := d.ops.Match("", path, method)
	if res.Status != router.Found {
		return nil, nil
	}
	o := res.Value
	var params map[string]string
	if len(res.Params) > 0 {
		params = make(map[string]string, len(res.Params))
		for i, p := range res.Params {
			if i < len(o.pathParams) {
				params[o.pathParams[i]] = p.Value
			}
		}
	}
	return o, params
}

// check that the kin-openapi package's error type is the one the
// violations mapping expects.
var _ error = (*openapi3filter.RequestError)(nil)
