package openapi

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/portcullis/portcullis/internal/problem"
)

// direction is whether a body is a request's or a response's: readOnly
// properties are refused in the first, writeOnly ones in the second.
type direction int

const (
	inRequest direction = iota
	inResponse
)

// bodySchema checks a decoded JSON body (numbers as json.Number). A
// non-nil error is a failure of the validator, not a verdict.
type bodySchema interface {
	check(v any) ([]problem.Violation, error)
}

// kinSchema is an OpenAPI 3.0 schema, checked by kin-openapi's validator.
type kinSchema struct {
	schema *openapi3.Schema
	opts   []openapi3.SchemaValidationOption
}

func newKinSchema(s *openapi3.Schema, dir direction) kinSchema {
	visit := openapi3.VisitAsRequest()
	if dir == inResponse {
		visit = openapi3.VisitAsResponse()
	}
	opts := append([]openapi3.SchemaValidationOption{visit, openapi3.MultiErrors()}, formatOptions...)
	return kinSchema{schema: s, opts: opts}
}

func (k kinSchema) check(v any) ([]problem.Violation, error) {
	err := k.schema.VisitJSON(v, k.opts...)
	if err == nil {
		return nil, nil
	}
	return schemaViolations(err, "")
}

// compiledSchema is an OpenAPI 3.1 schema compiled once, at load, as JSON
// Schema 2020-12. JSON Schema only annotates readOnly and writeOnly; they
// are enforced by walking the document's schema beside it, through the
// schemas that lead to one (access, computed at load).
type compiledSchema struct {
	schema *jsonschema.Schema
	source *openapi3.Schema
	dir    direction
	access map[*openapi3.Schema]bool
}

func (c compiledSchema) check(v any) ([]problem.Violation, error) {
	var out []problem.Violation
	if err := c.schema.Validate(v); err != nil {
		vs, ierr := jsonSchemaViolations(err)
		if ierr != nil {
			return nil, ierr
		}
		out = vs
	}
	if c.access[c.source] {
		out = append(out, accessViolations(c.source, v, "", c.dir, c.access, nil)...)
	}
	return out, nil
}

// schemaCompiler compiles the body schemas of one 3.1 document into one
// JSON Schema resource: the document's component schemas, which $refs
// point into, and each body schema as it is written. Nothing is fetched:
// a $schema or $ref that names a URL fails the load.
type schemaCompiler struct {
	c       *jsonschema.Compiler
	res     map[string]any
	schemas []any
	pending []func() error
}

const resourceURL = "urn:portcullis:openapi"

func newSchemaCompiler(doc *openapi3.T) (*schemaCompiler, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	registerFormats(c)
	res := map[string]any{}
	if doc.Components != nil && len(doc.Components.Schemas) > 0 {
		v, err := toJSON(doc.Components.Schemas)
		if err != nil {
			return nil, err
		}
		res["components"] = map[string]any{"schemas": v}
	}
	return &schemaCompiler{c: c, res: res}, nil
}

// add queues ref for compilation and returns the schema it will be once
// compile has run.
func (sc *schemaCompiler) add(ref *openapi3.SchemaRef, dir direction) (*compiledSchema, error) {
	v, err := toJSON(ref)
	if err != nil {
		return nil, err
	}
	i := len(sc.schemas)
	sc.schemas = append(sc.schemas, v)
	out := &compiledSchema{source: ref.Value, dir: dir, access: accessIndex(ref.Value, dir)}
	sc.pending = append(sc.pending, func() error {
		s, err := sc.c.Compile(resourceURL + "#/x-portcullis-schemas/" + strconv.Itoa(i))
		out.schema = s
		return err
	})
	return out, nil
}

// compile compiles every schema added.
func (sc *schemaCompiler) compile() error {
	if len(sc.pending) == 0 {
		return nil
	}
	sc.res["x-portcullis-schemas"] = sc.schemas
	if err := sc.c.AddResource(resourceURL, sc.res); err != nil {
		return err
	}
	for _, f := range sc.pending {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s: a schema may not load anything from outside the document", url)
}

// toJSON is v as the JSON Schema library reads it (numbers as
// json.Number).
func toJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
}

// accessIndex maps every schema reachable from root to whether it, or a
// schema below it, is readOnly (dir: request) or writeOnly (response), so
// that a request walks only where one can be.
func accessIndex(root *openapi3.Schema, dir direction) map[*openapi3.Schema]bool {
	idx := map[*openapi3.Schema]bool{}
	var all []*openapi3.Schema
	var collect func(s *openapi3.Schema)
	collect = func(s *openapi3.Schema) {
		if s == nil {
			return
		}
		if _, seen := idx[s]; seen {
			return
		}
		idx[s] = dir == inRequest && s.ReadOnly || dir == inResponse && s.WriteOnly
		all = append(all, s)
		for _, r := range subSchemas(s) {
			if r != nil {
				collect(r.Value)
			}
		}
	}
	collect(root)
	// Up the graph until nothing changes (cycles included).
	for changed := true; changed; {
		changed = false
		for _, s := range all {
			if idx[s] {
				continue
			}
			for _, r := range subSchemas(s) {
				if r != nil && idx[r.Value] {
					idx[s], changed = true, true
					break
				}
			}
		}
	}
	return idx
}

func subSchemas(s *openapi3.Schema) []*openapi3.SchemaRef {
	out := slices.Concat(s.AllOf, s.AnyOf, s.OneOf, s.PrefixItems)
	out = append(out, s.Items, s.AdditionalProperties.Schema)
	for _, p := range s.Properties {
		out = append(out, p)
	}
	return out
}

// accessViolations lists the readOnly (request) or writeOnly (response)
// properties present in v, at any depth. A property counts when any schema
// that applies to it declares it so (allOf, anyOf and oneOf branches
// alike): a client must not be able to set it by choosing a branch. Only
// schemas that lead to such a property (access) are walked; seen holds the
// schemas already applied to v, against cycles.
func accessViolations(s *openapi3.Schema, v any, p string, dir direction, access map[*openapi3.Schema]bool, seen []*openapi3.Schema) []problem.Violation {
	if s == nil || !access[s] || slices.Contains(seen, s) {
		return nil
	}
	seen = append(seen, s)
	var out []problem.Violation
	for _, r := range slices.Concat(s.AllOf, s.AnyOf, s.OneOf) {
		if r != nil {
			out = append(out, accessViolations(r.Value, v, p, dir, access, seen)...)
		}
	}
	switch v := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(v) {
			prop := s.Properties[k]
			if prop == nil {
				prop = s.AdditionalProperties.Schema
			}
			if prop == nil || !access[prop.Value] {
				continue
			}
			kp := pointerOf(p, []string{k})
			switch {
			case dir == inRequest && prop.Value.ReadOnly:
				out = append(out, problem.AtPointer(kp, keywordReasons["readOnly"]))
			case dir == inResponse && prop.Value.WriteOnly:
				out = append(out, problem.AtPointer(kp, keywordReasons["writeOnly"]))
			default:
				out = append(out, accessViolations(prop.Value, v[k], kp, dir, access, nil)...)
			}
		}
	case []any:
		for i, e := range v {
			item := s.Items
			if i < len(s.PrefixItems) {
				item = s.PrefixItems[i]
			}
			if item != nil && access[item.Value] {
				out = append(out, accessViolations(item.Value, e, pointerOf(p, []string{strconv.Itoa(i)}), dir, access, nil)...)
			}
		}
	}
	return dedupe(out)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func dedupe(vs []problem.Violation) []problem.Violation {
	if len(vs) < 2 {
		return vs
	}
	out := vs[:0:0]
	for _, v := range vs {
		if !slices.ContainsFunc(out, func(o problem.Violation) bool { return same(o, v) }) {
			out = append(out, v)
		}
	}
	return out
}

func same(a, b problem.Violation) bool {
	return a.Reason == b.Reason && a.Parameter == b.Parameter && a.In == b.In &&
		(a.Pointer == nil) == (b.Pointer == nil) && (a.Pointer == nil || *a.Pointer == *b.Pointer)
}
