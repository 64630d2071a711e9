package httpsig

import (
	"strings"

	"github.com/dunglas/httpsfv"
)

// Derived component names (RFC 9421 Section 2.2).
const (
	CompMethod        = "@method"
	CompTargetURI     = "@target-uri"
	CompAuthority     = "@authority"
	CompScheme        = "@scheme"
	CompRequestTarget = "@request-target"
	CompPath          = "@path"
	CompQuery         = "@query"
	CompQueryParam    = "@query-param"
	CompStatus        = "@status"
)

const compSignatureParams = "@signature-params"

var derivedNames = map[string]bool{
	CompMethod: true, CompTargetURI: true, CompAuthority: true, CompScheme: true,
	CompRequestTarget: true, CompPath: true, CompQuery: true, CompQueryParam: true,
	CompStatus: true,
}

// Component is one covered component identifier: a lowercased field name
// or a derived name, with its parameters.
type Component struct {
	// Name is the field name (lowercase) or derived name ("@method").
	Name string
	// SF: strict Structured Field serialisation of the field.
	SF bool
	// Key selects one Dictionary member ("" when absent).
	Key string
	// BS: each field line wrapped as a Byte Sequence.
	BS bool
	// Req: taken from the request a response answers.
	Req bool
	// TR: taken from the trailers.
	TR bool
	// QueryName is the name parameter of @query-param, encoded.
	QueryName string

	// ident is the serialised identifier with its parameters in the order
	// they were given, which the signature base must reproduce.
	ident string
	item  httpsfv.Item
}

// String is the serialised component identifier, e.g. `"@query-param";name="id"`.
func (c Component) String() string { return c.ident }

// Derived reports whether the component is a derived component.
func (c Component) Derived() bool { return strings.HasPrefix(c.Name, "@") }

// compKey identifies a component regardless of parameter order, which RFC
// 9421 Section 2 makes insignificant for equality.
type compKey struct {
	name, key, qname string
	sf, bs, req, tr  bool
}

func (c Component) key() compKey {
	return compKey{c.Name, c.Key, c.QueryName, c.SF, c.BS, c.Req, c.TR}
}

// ParseComponent parses a component identifier as written in
// configuration: `"content-digest"`, `"@query-param";name="id"`, or, for
// convenience, the bare name `content-digest` / `@method`.
func ParseComponent(s string) (Component, error) {
	s = strings.TrimSpace(s)
	if s != "" && s[0] != '"' {
		name, rest, _ := strings.Cut(s, ";")
		s = `"` + name + `"`
		if rest != "" {
			s += ";" + rest
		}
	}
	it, err := httpsfv.UnmarshalItem([]string{s})
	if err != nil {
		return Component{}, newErr(ErrMalformed, "", "component identifier is not a Structured Field string")
	}
	return componentFromItem(it, DefaultMaxParamBytes)
}

// MustComponent is ParseComponent for identifiers known at compile time.
func MustComponent(s string) Component {
	c, err := ParseComponent(s)
	if err != nil {
		panic(err)
	}
	return c
}

func componentFromItem(it httpsfv.Item, maxParam int) (Component, error) {
	name, ok := it.Value.(string)
	if !ok {
		return Component{}, newErr(ErrMalformed, "", "component identifier is not a string")
	}
	c := Component{Name: name, item: it}
	switch {
	case name == compSignatureParams:
		return Component{}, newErr(ErrMalformed, "", "@signature-params cannot be covered")
	case strings.HasPrefix(name, "@"):
		if !derivedNames[name] {
			return Component{}, newErr(ErrUnsupported, "", "unknown derived component "+sanitize(name))
		}
	case !isFieldName(name):
		return Component{}, newErr(ErrMalformed, "", "component name is not a lowercase field name: "+sanitize(name))
	}
	if it.Params == nil {
		it.Params = httpsfv.NewParams()
		c.item = it
	}
	derived := c.Derived()
	for _, p := range it.Params.Names() {
		v, _ := it.Params.Get(p)
		switch p {
		case "sf", "bs", "tr", "req":
			if v != true {
				return Component{}, newErr(ErrMalformed, "", "component parameter "+p+" must be a true boolean")
			}
			if p != "req" && derived {
				return Component{}, newErr(ErrMalformed, "", "parameter "+p+" does not apply to "+sanitize(name))
			}
			switch p {
			case "sf":
				c.SF = true
			case "bs":
				c.BS = true
			case "tr":
				c.TR = true
			case "req":
				if name == CompStatus {
					return Component{}, newErr(ErrMalformed, "", "parameter req does not apply to @status")
				}
				c.Req = true
			}
		case "key", "name":
			s, ok := v.(string)
			if !ok || s == "" || len(s) > maxParam {
				return Component{}, newErr(ErrMalformed, "", "component parameter "+p+" must be a non-empty, bounded string")
			}
			if p == "key" {
				if derived {
					return Component{}, newErr(ErrMalformed, "", "parameter key does not apply to "+sanitize(name))
				}
				c.Key = s
			} else {
				if name != CompQueryParam {
					return Component{}, newErr(ErrMalformed, "", "parameter name only applies to @query-param")
				}
				c.QueryName = s
			}
		default:
			return Component{}, newErr(ErrUnsupported, "", "unknown component parameter "+sanitize(p))
		}
	}
	if c.BS && (c.SF || c.Key != "") {
		return Component{}, newErr(ErrMalformed, "", "parameter bs cannot be combined with sf or key")
	}
	if name == CompQueryParam && c.QueryName == "" {
		return Component{}, newErr(ErrMalformed, "", "@query-param needs a name parameter")
	}
	ident, err := httpsfv.Marshal(c.item)
	if err != nil {
		return Component{}, newErr(ErrMalformed, "", "component identifier cannot be serialised")
	}
	c.ident = ident
	return c, nil
}

// isFieldName: a token (RFC 9110 Section 5.1) in lowercase, as RFC 9421
// Section 2.1 requires of component names.
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
