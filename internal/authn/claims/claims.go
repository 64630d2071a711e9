// Package claims owns reading identity out of a verified claim set (JWT
// claims or an RFC 7662 introspection response): claim lookup by name or dot
// path, scopes/roles/groups lists, required claims and value rules, and
// strict JSON decoding that rejects duplicate members. The jwt and
// introspect authenticators share it so both map claims the same way.
package claims

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/principal"
)

// Set is a decoded claim set.
type Set map[string]any

// Lookup finds a claim by its full name first (namespaced claims such as
// "https://example.com/roles" contain dots) and then as a dot path into
// nested objects.
func (s Set) Lookup(name string) (any, bool) {
	if v, ok := s[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") {
		return nil, false
	}
	var cur any = map[string]any(s)
	for part := range strings.SplitSeq(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// String returns a string claim ("" if absent or not a string).
func (s Set) String(name string) string {
	v, _ := s.Lookup(name)
	str, _ := v.(string)
	return str
}

// List returns a claim that is either a space-separated string (as scope
// is, RFC 8693 §4.2) or a list of strings. Other element types are skipped.
func (s Set) List(name string) []string {
	v, ok := s.Lookup(name)
	if !ok {
		return nil
	}
	switch t := v.(type) {
	case string:
		return strings.Fields(t)
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if str, ok := e.(string); ok && str != "" {
				out = append(out, str)
			}
		}
		return out
	}
	return nil
}

// Rules are the compiled claim requirements of one authenticator.
type Rules struct {
	required []string
	rules    []rule
}

type rule struct {
	claim string
	oneOf map[string]bool
}

// NewRules compiles required claims and value rules.
func NewRules(required []string, rules []config.ClaimRule) Rules {
	r := Rules{required: required}
	for _, cr := range rules {
		set := make(map[string]bool, len(cr.OneOf))
		for _, v := range cr.OneOf {
			set[v] = true
		}
		r.rules = append(r.rules, rule{claim: cr.Claim, oneOf: set})
	}
	return r
}

// Check returns an error (for the log only) naming the first requirement s
// does not meet.
func (r Rules) Check(s Set) error {
	for _, name := range r.required {
		if v, ok := s.Lookup(name); !ok || v == nil {
			return fmt.Errorf("required claim %q missing", name)
		}
	}
	for _, ru := range r.rules {
		v, ok := s.Lookup(ru.claim)
		if !ok {
			return fmt.Errorf("claim %q missing", ru.claim)
		}
		if !ru.matches(v) {
			return fmt.Errorf("claim %q has a value that is not allowed", ru.claim)
		}
	}
	return nil
}

func (ru rule) matches(v any) bool {
	switch t := v.(type) {
	case string:
		return ru.oneOf[t]
	case []any:
		for _, e := range t {
			if str, ok := e.(string); ok && ru.oneOf[str] {
				return true
			}
		}
	}
	return false
}

// Principal builds the principal fields that come from claims: consumer
// id, subject, scopes, roles, groups. The consumer falls back from the
// configured claim to client_id and then azp; an empty consumer id is an
// error, since rate limits and logs key on it.
func Principal(s Set, m config.ClaimMapping, method principal.Method) (*principal.Principal, error) {
	p := &principal.Principal{
		Subject: s.String("sub"),
		Scopes:  s.List(m.Scopes),
		Roles:   s.List(m.Roles),
		Groups:  s.List(m.Groups),
		Method:  method,
		Claims:  s,
	}
	for _, name := range []string{m.Consumer, "client_id", "azp"} {
		if p.ConsumerID = s.String(name); p.ConsumerID != "" {
			break
		}
	}
	if p.ConsumerID == "" {
		return nil, fmt.Errorf("no consumer id (claims %q, client_id, azp are empty)", m.Consumer)
	}
	return p, nil
}

// ErrDuplicate is returned by Decode for an object with a repeated member:
// parsers disagree on which copy wins, which is how claim-smuggling works.
var ErrDuplicate = errors.New("duplicate JSON member")

// maxDepth bounds nesting; claim sets are shallow.
const maxDepth = 32

// Decode parses a JSON object strictly: exactly one object, no duplicate
// members at any depth, nesting at most 32 deep, numbers kept as float64.
func Decode(data []byte) (Set, error) {
	if err := checkStrict(data); err != nil {
		return nil, err
	}
	var s Set
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("claims are not a JSON object")
	}
	return s, nil
}

// checkStrict walks the token stream once, rejecting duplicate keys, deep
// nesting and trailing data.
func checkStrict(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		keys     map[string]bool
		isObject bool
		wantKey  bool
	}
	var stack []*frame
	first := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			if len(stack) != 0 {
				return io.ErrUnexpectedEOF
			}
			return nil
		}
		if err != nil {
			return err
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return errors.New("claims are not a JSON object")
			}
		} else if len(stack) == 0 {
			return errors.New("data after the JSON object")
		}
		first = false
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.isObject && top.wantKey {
			if key, ok := tok.(string); ok {
				if top.keys[key] {
					return fmt.Errorf("%w %q", ErrDuplicate, key)
				}
				top.keys[key] = true
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxDepth {
				return errors.New("claims nested too deeply")
			}
			if top != nil && top.isObject {
				top.wantKey = true
			}
			f := &frame{isObject: tok == json.Delim('{'), wantKey: tok == json.Delim('{')}
			if f.isObject {
				f.keys = map[string]bool{}
			}
			stack = append(stack, f)
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if top != nil && top.isObject {
				top.wantKey = true
			}
		}
	}
}
