// Package router owns request matching: path normalisation with traversal
// rejection (Normalize), and an index of routes by host, path and method
// whose lookup cost depends on the path's depth, not on how many routes
// there are.
package router

import (
	"fmt"
	"slices"
	"strings"
)

// Spec is what a route matches on.
type Spec struct {
	// Hosts are exact lowercase names or "*.domain" wildcards; empty is any host.
	Hosts []string
	// Path is an exact path with optional {param} segments.
	Path string
	// Prefix matches the path and everything below it on segment boundaries.
	Prefix string
	// Methods are the accepted methods, each one of Methods; empty is all
	// of Methods. GET implies HEAD.
	Methods []string
}

// Methods are the only request methods the gateway routes: the
// registered methods an API uses, upper-case as RFC 9110 §9.1 spells them
// (methods are case-sensitive tokens). Anything else ("post", "Delete",
// TRACE, CONNECT, WebDAV verbs) matches no route and gets 405, so no
// per-method rule can be side-stepped by a spelling an upstream folds.
var Methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// IsMethod reports whether m is one of Methods, byte for byte.
func IsMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return true
	}
	return false
}

// Param is one {param} value.
type Param struct{ Name, Value string }

// Status is the outcome of a match.
type Status int

// Match outcomes.
const (
	NotFound Status = iota
	Found
	MethodNotAllowed
)

// Result is a match outcome. Allow lists the methods of the matched path
// when Status is MethodNotAllowed.
type Result[T any] struct {
	Status Status
	Value  T
	Params []Param
	Allow  string
}

// Router indexes values of type T (a route's runtime) by Spec.
type Router[T any] struct {
	anyHost   *node[T]
	exact     map[string]*node[T]
	wildcards map[string]*node[T] // key: ".example.com"
}

// New returns an empty Router.
func New[T any]() *Router[T] {
	return &Router[T]{exact: map[string]*node[T]{}, wildcards: map[string]*node[T]{}}
}

type node[T any] struct {
	static map[string]*node[T]
	param  *node[T]
	exact  *endpoint[T]
	prefix *endpoint[T]
}

type entry[T any] struct {
	value T
	names []string
	label string
}

type endpoint[T any] struct {
	methods map[string]*entry[T]
	// all takes every one of Methods that methods does not name.
	all   *entry[T]
	allow string
}

// Add indexes v under spec; label names it in conflict errors. It returns an
// error for a malformed path or a spec that overlaps an existing one exactly.
func (r *Router[T]) Add(spec Spec, label string, v T) error {
	pattern, isPrefix := spec.Path, false
	if spec.Prefix != "" {
		pattern, isPrefix = strings.TrimSuffix(spec.Prefix, "/"), true
		if pattern == "" {
			pattern = "/"
		}
	}
	segs, names, err := parsePattern(pattern)
	if err != nil {
		return err
	}
	hosts := spec.Hosts
	if len(hosts) == 0 {
		hosts = []string{""}
	}
	for _, h := range hosts {
		root := r.root(h)
		n := root
		for _, s := range segs {
			n = n.child(s)
		}
		ep := &n.exact
		if isPrefix {
			ep = &n.prefix
		}
		if *ep == nil {
			*ep = &endpoint[T]{methods: map[string]*entry[T]{}}
		}
		if err := (*ep).add(spec.Methods, &entry[T]{value: v, names: names, label: label}); err != nil {
			return err
		}
	}
	return nil
}

func (r *Router[T]) root(host string) *node[T] {
	var m map[string]*node[T]
	key := host
	switch {
	case host == "":
		if r.anyHost == nil {
			r.anyHost = &node[T]{}
		}
		return r.anyHost
	case strings.HasPrefix(host, "*."):
		m, key = r.wildcards, host[1:]
	default:
		m = r.exact
	}
	n := m[key]
	if n == nil {
		n = &node[T]{}
		m[key] = n
	}
	return n
}

func (n *node[T]) child(seg string) *node[T] {
	if seg == "{}" {
		if n.param == nil {
			n.param = &node[T]{}
		}
		return n.param
	}
	if n.static == nil {
		n.static = map[string]*node[T]{}
	}
	c := n.static[seg]
	if c == nil {
		c = &node[T]{}
		n.static[seg] = c
	}
	return c
}

func (ep *endpoint[T]) add(methods []string, e *entry[T]) error {
	if len(methods) == 0 {
		if ep.all != nil {
			return fmt.Errorf("matches the same requests as route %q", ep.all.label)
		}
		ep.all = e
	}
	for _, m := range methods {
		if !IsMethod(m) {
			return fmt.Errorf("method %q is not one of %s", m, strings.Join(Methods, ", "))
		}
		if prev := ep.methods[m]; prev != nil {
			return fmt.Errorf("%s matches the same requests as route %q", m, prev.label)
		}
		ep.methods[m] = e
	}
	if _, ok := ep.methods["GET"]; ok {
		if _, ok := ep.methods["HEAD"]; !ok {
			ep.methods["HEAD"] = ep.methods["GET"]
		}
	}
	allow := make([]string, 0, len(Methods))
	for m := range ep.methods {
		allow = append(allow, m)
	}
	if ep.all != nil {
		for _, m := range Methods {
			if ep.methods[m] == nil {
				allow = append(allow, m)
			}
		}
	}
	slices.Sort(allow)
	ep.allow = strings.Join(allow, ", ")
	return nil
}

func (ep *endpoint[T]) lookup(method string) *entry[T] {
	if e := ep.methods[method]; e != nil {
		return e
	}
	if ep.all != nil && IsMethod(method) {
		return ep.all
	}
	return nil
}

// parsePattern splits a route path into segments, with "{}" for params, and
// returns the param names in order.
func parsePattern(p string) (segs, names []string, err error) {
	if !strings.HasPrefix(p, "/") {
		return nil, nil, fmt.Errorf("must start with /")
	}
	if p == "/" {
		return nil, nil, nil
	}
	parts := strings.Split(p[1:], "/")
	seen := map[string]bool{}
	for i, s := range parts {
		switch {
		case s == "" && i == len(parts)-1:
			// trailing slash: an empty last segment
		case s == "":
			return nil, nil, fmt.Errorf("empty segment in %q", p)
		case s == "." || s == "..":
			return nil, nil, fmt.Errorf("dot-segment in %q", p)
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			name := s[1 : len(s)-1]
			if !validParamName(name) {
				return nil, nil, fmt.Errorf("invalid parameter name %q", name)
			}
			if seen[name] {
				return nil, nil, fmt.Errorf("duplicate parameter %q", name)
			}
			seen[name] = true
			names = append(names, name)
			s = "{}"
		case strings.ContainsAny(s, "{}%\\?#"):
			return nil, nil, fmt.Errorf("invalid segment %q (parameters are whole segments like {id})", s)
		}
		segs = append(segs, s)
	}
	return segs, names, nil
}

func validParamName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Match finds the route for a normalised path. host may carry a port and any
// case.
func (r *Router[T]) Match(host, path, method string) Result[T] {
	host = canonicalHost(host)
	var res Result[T]
	try := func(root *node[T]) bool {
		if root == nil {
			return false
		}
		got := matchTree(root, path, method)
		switch got.Status {
		case Found:
			res = got
			return true
		case MethodNotAllowed:
			if res.Status != MethodNotAllowed {
				res = got
			}
		}
		return false
	}
	if host != "" {
		if try(r.exact[host]) {
			return res
		}
		if len(r.wildcards) > 0 {
			for i := strings.IndexByte(host, '.'); i >= 0; {
				if try(r.wildcards[host[i:]]) {
					return res
				}
				j := strings.IndexByte(host[i+1:], '.')
				if j < 0 {
					break
				}
				i += j + 1
			}
		}
	}
	try(r.anyHost)
	return res
}

func canonicalHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// matcher walks one host's tree. Params are collected as values in path
// order and named from the winning entry.
type matcher[T any] struct {
	method      string
	values      []string
	bestPrefix  *endpoint[T]
	prefixVals  []string
	prefixOK    bool
	prefixDepth int
	exact       *endpoint[T]
	exactVals   []string
}

func matchTree[T any](root *node[T], path, method string) Result[T] {
	m := matcher[T]{method: method}
	rest := ""
	if len(path) > 1 {
		rest = path[1:]
	}
	m.walk(root, rest, path == "/", 0)
	if m.exact != nil {
		if e := m.exact.lookup(method); e != nil {
			return found(e, m.exactVals)
		}
	}
	if m.bestPrefix != nil && m.prefixOK {
		return found(m.bestPrefix.lookup(method), m.prefixVals)
	}
	switch {
	case m.exact != nil:
		return Result[T]{Status: MethodNotAllowed, Allow: m.exact.allow}
	case m.bestPrefix != nil:
		return Result[T]{Status: MethodNotAllowed, Allow: m.bestPrefix.allow}
	}
	return Result[T]{Status: NotFound}
}

func found[T any](e *entry[T], vals []string) Result[T] {
	res := Result[T]{Status: Found, Value: e.value}
	if len(e.names) > 0 {
		res.Params = make([]Param, len(e.names))
		for i, n := range e.names {
			res.Params[i] = Param{Name: n, Value: vals[i]}
		}
	}
	return res
}

// walk matches rest (the path after the node's segment). It returns true
// once an exact endpoint accepting the method is found. Static children are
// preferred over params; the deepest prefix that accepts the method wins
// among prefixes.
func (m *matcher[T]) walk(n *node[T], rest string, atEnd bool, depth int) bool {
	if ep := n.prefix; ep != nil {
		// Rank candidates by (accepts the method, depth).
		ok := ep.lookup(m.method) != nil
		if m.bestPrefix == nil || ok && !m.prefixOK || ok == m.prefixOK && depth > m.prefixDepth {
			m.bestPrefix, m.prefixOK, m.prefixDepth = ep, ok, depth
			m.prefixVals = append(m.prefixVals[:0], m.values...)
		}
	}
	if atEnd {
		if n.exact != nil {
			if n.exact.lookup(m.method) != nil {
				m.exact = n.exact
				m.exactVals = append([]string(nil), m.values...)
				return true
			}
			if m.exact == nil {
				m.exact = n.exact
			}
		}
		return false
	}
	seg, tail, more := strings.Cut(rest, "/")
	if c := n.static[seg]; c != nil {
		if m.walk(c, tail, !more, depth+1) {
			return true
		}
	}
	if n.param != nil && seg != "" {
		m.values = append(m.values, seg)
		if m.walk(n.param, tail, !more, depth+1) {
			return true
		}
		m.values = m.values[:len(m.values)-1]
	}
	return false
}
