package config

import (
	"fmt"
	"mime"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Defaults of request validation: the structural limits every JSON
// request body is held to, and OpenAPI response checks.
const (
	DefaultJSONMaxDepth           = 32
	DefaultJSONMaxObjectKeys      = 1000
	DefaultJSONMaxArrayLength     = 10000
	DefaultJSONMaxStringLength    = 64 << 10
	DefaultJSONMaxNumberLength    = 64
	DefaultOpenAPIMode            = "enforce"
	DefaultOpenAPIUnknown         = "refuse"
	DefaultOpenAPIResponseMode    = "off"
	DefaultOpenAPIResponseMaxBody = 1 << 20
	DefaultOpenAPIUninspectable   = "refuse"
)

// JSONLimits bound the structure of JSON request bodies, with no schema:
// a body with a JSON media type (application/json, text/json, any
// "+json"), or with no Content-Type that starts like JSON, is read by a
// strict parser that refuses duplicate object keys, invalid UTF-8 and
// unpaired surrogate escapes, anything after the value, and what goes
// past these limits (400 problem+json). Other media types are not
// parsed; list content_types on a route so that JSON cannot be sent as
// text/plain to skip the checks.
type JSONLimits struct {
	// Enabled turns the checks on. Default true; a route with openapi
	// needs them (they bound what the schema validator walks).
	Enabled *bool `yaml:"enabled"`
	// MaxDepth bounds nesting of objects and arrays, 1 to 10000. Default 32.
	MaxDepth int `yaml:"max_depth"`
	// MaxObjectKeys bounds the keys of one object. Default 1000.
	MaxObjectKeys int `yaml:"max_object_keys"`
	// MaxArrayLength bounds the elements of one array. Default 10000.
	MaxArrayLength int `yaml:"max_array_length"`
	// MaxStringLength bounds one string (object keys included), in bytes
	// as sent, escapes included. Default 64KiB.
	MaxStringLength ByteSize `yaml:"max_string_length"`
	// MaxNumberLength bounds one number's characters, 1 to 4096. Default 64.
	MaxNumberLength int `yaml:"max_number_length"`
}

// On reports whether the limits are enforced.
func (l JSONLimits) On() bool { return l.Enabled != nil && *l.Enabled }

// OpenAPI holds requests (and optionally responses) to an OpenAPI 3.0 or
// 3.1 document: operations it does not declare answer 404, parameters and
// bodies it declares are checked before the upstream sees them.
type OpenAPI struct {
	// Spec is the document's file (YAML or JSON), read and compiled when
	// the configuration loads or reloads; $refs to files in its directory
	// tree are followed, URLs never. Required unless mode is off.
	Spec string `yaml:"spec"`
	// Mode is "enforce" (default: a violation is refused), "report" (it is
	// logged and counted, the request goes on) or "off" (a route does not
	// use its upstream's document).
	Mode string `yaml:"mode"`
	// BasePath is removed from the request path before it is looked up in
	// the document's paths ("/v1" when paths are written "/payments").
	// Default "": paths are the request paths. The document's servers are
	// never used for matching.
	BasePath string `yaml:"base_path"`
	// UnknownOperations is "refuse" (default: a method and path the
	// document does not declare gets 404) or "pass" (it is forwarded
	// unchecked).
	UnknownOperations string `yaml:"unknown_operations"`
	// Responses checks upstream responses against the document.
	Responses OpenAPIResponses `yaml:"responses"`
}

// OpenAPIResponses configures response validation.
type OpenAPIResponses struct {
	// Mode is "off" (default), "report" (violations are logged and
	// counted, the response is relayed) or "enforce" (a violating
	// response is replaced with 502 problem+json; its body is never
	// relayed).
	Mode string `yaml:"mode"`
	// MaxBodyBytes bounds the response body kept in memory to check it
	// (counted in the process's body budget). Default 1MiB.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// Uninspectable is what happens to a response that cannot be checked
	// (larger than max_body_bytes, streamed as text/event-stream, or the
	// memory budget is spent): "refuse" (default: 502 in enforce mode) or
	// "relay" (relayed unchecked, counted).
	Uninspectable string `yaml:"uninspectable"`
}

// MediaType is a request media type ("application/json"), parsed and
// lower-cased at load: type/subtype without parameters or wildcards.
type MediaType string

// ParseMediaType parses the MediaType syntax.
func ParseMediaType(s string) (MediaType, error) {
	mt, params, err := mime.ParseMediaType(s)
	typ, sub, _ := strings.Cut(mt, "/")
	switch {
	case err != nil || typ == "" || sub == "":
		return "", fmt.Errorf("invalid media type %q (e.g. application/json)", s)
	case len(params) > 0:
		return "", fmt.Errorf("media type %q: parameters are not matched, list the type alone", s)
	case typ == "*" || sub == "*":
		return "", fmt.Errorf("media type %q: wildcards are not allowed, list each type", s)
	}
	return MediaType(mt), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (m *MediaType) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a media type such as application/json")
	}
	v, err := ParseMediaType(n.Value)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

func (JSONLimits) defaults() any {
	return JSONLimits{
		Enabled:         ptr(true),
		MaxDepth:        DefaultJSONMaxDepth,
		MaxObjectKeys:   DefaultJSONMaxObjectKeys,
		MaxArrayLength:  DefaultJSONMaxArrayLength,
		MaxStringLength: DefaultJSONMaxStringLength,
		MaxNumberLength: DefaultJSONMaxNumberLength,
	}
}

func (OpenAPI) defaults() any {
	return OpenAPI{Mode: DefaultOpenAPIMode, UnknownOperations: DefaultOpenAPIUnknown}
}

func (OpenAPIResponses) defaults() any {
	return OpenAPIResponses{Mode: DefaultOpenAPIResponseMode, MaxBodyBytes: DefaultOpenAPIResponseMaxBody, Uninspectable: DefaultOpenAPIUninspectable}
}

// OpenAPIOf is the OpenAPI block that applies to route r: its own, or its
// upstream's; nil when none applies or its mode is off.
func (c *Config) OpenAPIOf(r Route) *OpenAPI {
	o := r.OpenAPI
	if o == nil {
		for _, u := range c.Upstreams {
			if u.Name == r.Upstream && u.OpenAPI != nil {
				o = u.OpenAPI
			}
		}
	}
	if o == nil || o.Mode == "off" {
		return nil
	}
	return o
}

func (c *Config) validateValidation(errs *Errors) {
	for i, u := range c.Upstreams {
		if u.OpenAPI != nil {
			validateOpenAPI(errs, Join(Index("upstreams", i), "openapi"), u.OpenAPI)
		}
	}
	for i, r := range c.Routes {
		p := Index("routes", i)
		seen := map[MediaType]bool{}
		for j, mt := range r.ContentTypes {
			if seen[mt] {
				errs.Add(Index(Join(p, "content_types"), j), "duplicate media type %q", mt)
			}
			seen[mt] = true
		}
		validateJSONLimits(errs, Join(p, "json_limits"), r.JSONLimits)
		if r.OpenAPI != nil {
			validateOpenAPI(errs, Join(p, "openapi"), r.OpenAPI)
		}
		if c.OpenAPIOf(r) != nil && !r.JSONLimits.On() {
			errs.Add(Join(p, "json_limits.enabled"), "must be true on a route checked against an OpenAPI document: its limits bound what the schema validator walks")
		}
	}
}

func validateJSONLimits(errs *Errors, p string, l JSONLimits) {
	between := func(key string, v, lo, hi int64) {
		if v < lo || v > hi {
			errs.Add(Join(p, key), "must be between %d and %d", lo, hi)
		}
	}
	between("max_depth", int64(l.MaxDepth), 1, 10000)
	between("max_object_keys", int64(l.MaxObjectKeys), 1, 1<<30)
	between("max_array_length", int64(l.MaxArrayLength), 1, 1<<30)
	between("max_string_length", int64(l.MaxStringLength), 1, 1<<30)
	between("max_number_length", int64(l.MaxNumberLength), 1, 4096)
}

func validateOpenAPI(errs *Errors, p string, o *OpenAPI) {
	switch o.Mode {
	case "enforce", "report":
		if o.Spec == "" {
			errs.Add(Join(p, "spec"), "is required (the OpenAPI document's file)")
		}
	case "off":
	default:
		errs.Add(Join(p, "mode"), "must be enforce, report or off; got %q", o.Mode)
	}
	if b := o.BasePath; b != "" && (!strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.Contains(b, "//") || strings.ContainsAny(b, "{}?#%\\")) {
		errs.Add(Join(p, "base_path"), "must be a path such as /v1 (no trailing slash, no parameters); got %q", b)
	}
	switch o.UnknownOperations {
	case "refuse", "pass":
	default:
		errs.Add(Join(p, "unknown_operations"), "must be refuse or pass; got %q", o.UnknownOperations)
	}
	rp := Join(p, "responses")
	switch o.Responses.Mode {
	case "off", "report", "enforce":
	default:
		errs.Add(Join(rp, "mode"), "must be off, report or enforce; got %q", o.Responses.Mode)
	}
	if b := o.Responses.MaxBodyBytes; b < 1 || b > 1<<30 {
		errs.Add(Join(rp, "max_body_bytes"), "must be between 1B and 1GiB")
	}
	switch o.Responses.Uninspectable {
	case "refuse", "relay":
	default:
		errs.Add(Join(rp, "uninspectable"), "must be refuse or relay; got %q", o.Responses.Uninspectable)
	}
}
