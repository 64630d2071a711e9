package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestExplicitZeroIsNeverReplaced walks the whole schema: for every key
// reachable in testdata/every-section.yaml (written there, or taking a
// default), it writes that key as an explicit zero (0, 0s, "", false, [],
// {}) and loads the file. Either the load fails with an error at or next to
// that key, or the loaded value is that zero. A default silently put in its
// place fails the test.
func TestExplicitZeroIsNeverReplaced(t *testing.T) {
	for _, fixture := range []struct{ name, overlay, block, value string }{
		{"every-section", "", "", ""},
		// Sentinel, cluster and a fixed address are exclusive: these runs
		// cover the sentinel and cluster blocks.
		{"sentinel", "rate_limits.store.redis.address", "rate_limits.store.redis.sentinel", `{master_name: m, addresses: ["127.0.0.1:26379"]}`},
		{"cluster", "rate_limits.store.redis.address", "rate_limits.store.redis.cluster", `{addresses: ["127.0.0.1:7000"]}`},
	} {
		t.Run(fixture.name, func(t *testing.T) {
			root := loadFixture(t)
			if fixture.overlay != "" {
				deleteKey(t, root, fixture.overlay)
				setNode(t, root, fixture.block, mustNode(t, fixture.value))
			}
			base, err := Parse(marshal(t, root), noEnv)
			if err != nil {
				t.Fatalf("fixture does not load: %v", err)
			}
			leaves := schemaLeaves(reflect.ValueOf(base).Elem(), "")
			if len(leaves) < 250 {
				t.Fatalf("only %d keys walked: the fixture lost sections", len(leaves))
			}
			for _, leaf := range leaves {
				t.Run(leaf.path, func(t *testing.T) {
					doc := loadFixture(t)
					if fixture.overlay != "" {
						deleteKey(t, doc, fixture.overlay)
						setNode(t, doc, fixture.block, mustNode(t, fixture.value))
					}
					setNode(t, doc, leaf.path, zeroNode(leaf.typ))
					cfg, err := Parse(marshal(t, doc), noEnv)
					if err != nil {
						if !errorNear(err, leaf.path) && !refusedElsewhere[leaf.path] {
							t.Fatalf("explicit zero refused, but not at %s:\n%v", leaf.path, err)
						}
						return
					}
					got, ok := lookup(reflect.ValueOf(cfg).Elem(), leaf.path)
					if !ok {
						t.Fatalf("%s not found in the loaded config", leaf.path)
					}
					if !isExplicitZero(got) {
						t.Fatalf("%s: written as zero, loaded as %v (replaced by a default)", leaf.path, got.Interface())
					}
				})
			}
		})
	}
}

// refusedElsewhere are keys whose emptying is refused where the rest of the
// file refers to what they held.
var refusedElsewhere = map[string]bool{
	"authenticators":       true, // routes name them
	"rate_limits.policies": true, // routes, global and tiers name them
	"upstreams":            true, // routes name them
}

type leaf struct {
	path string
	typ  reflect.Type
}

// schemaLeaves lists every key below v: scalars, lists and maps, and the
// keys of every struct reached through them.
func schemaLeaves(v reflect.Value, path string) []leaf {
	var out []leaf
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, inline, ok := yamlName(f)
		if !ok {
			continue
		}
		fp := Join(path, name)
		if inline {
			out = append(out, schemaLeaves(v.Field(i), path)...)
			continue
		}
		fv := v.Field(i)
		if ra, ok := fv.Interface().(*RouteAuth); ok && ra != nil && ra.None {
			continue // "auth: none" has no keys
		}
		out = append(out, leaf{fp, f.Type})
		for fv.Kind() == reflect.Pointer && !fv.IsNil() {
			fv = fv.Elem()
		}
		switch fv.Kind() {
		case reflect.Struct:
			out = out[:len(out)-1] // a section, not a value: its keys are walked
			out = append(out, schemaLeaves(fv, fp)...)
		case reflect.Slice:
			for j := range fv.Len() {
				if e := deref(fv.Index(j)); e.Kind() == reflect.Struct {
					out = append(out, schemaLeaves(e, Index(fp, j))...)
				}
			}
		case reflect.Map:
			iter := fv.MapRange()
			for iter.Next() {
				if e := deref(iter.Value()); e.Kind() == reflect.Struct {
					out = append(out, schemaLeaves(e, Join(fp, fmt.Sprint(iter.Key().Interface())))...)
				}
			}
		}
	}
	return out
}

func deref(v reflect.Value) reflect.Value {
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	return v
}

func zeroNode(t reflect.Type) *yaml.Node {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	n := &yaml.Node{Kind: yaml.ScalarNode}
	switch {
	case t == reflect.TypeFor[Duration]():
		n.Value = "0s"
	case t.Kind() == reflect.Bool:
		n.Value = "false"
	case t.Kind() == reflect.String:
		n.Value, n.Style = "", yaml.DoubleQuotedStyle
	case t.Kind() == reflect.Slice:
		return &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	case t.Kind() == reflect.Map, t.Kind() == reflect.Struct:
		return &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	default:
		n.Value = "0"
	}
	return n
}

// isExplicitZero reports whether v holds the zero that was written (a
// pointer to a scalar must point at a zero, not be nil).
func isExplicitZero(v reflect.Value) bool {
	if v.Kind() == reflect.Pointer {
		return !v.IsNil() && v.Elem().IsZero()
	}
	if v.Kind() == reflect.Slice || v.Kind() == reflect.Map {
		return v.Len() == 0
	}
	return v.IsZero()
}

var errPath = regexp.MustCompile(`(?m)^([^ :]+(?:\[\d+\])?[^ :]*): `)

// errorNear reports whether err names path, an ancestor of it, or a
// sibling in the same section (e.g. "timeout: must be shorter than
// interval" when interval was zeroed).
func errorNear(err error, path string) bool {
	parent := path[:max(strings.LastIndexAny(path, ".["), 0)]
	for _, m := range errPath.FindAllStringSubmatch(err.Error(), -1) {
		p := m[1]
		if p == path || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") ||
			(parent != "" && (p == parent || strings.HasPrefix(p, parent+"."))) {
			return true
		}
	}
	return false
}

// lookup follows a config path ("routes[0].auth.require.scopes.all_of").
func lookup(v reflect.Value, path string) (reflect.Value, bool) {
	for _, seg := range splitPath(path) {
		v = deref(v)
		switch {
		case seg.index >= 0:
			if v.Kind() != reflect.Slice || seg.index >= v.Len() {
				return v, false
			}
			v = v.Index(seg.index)
		case v.Kind() == reflect.Map:
			e := v.MapIndex(reflect.ValueOf(seg.key))
			if !e.IsValid() {
				return v, false
			}
			v = e
		case v.Kind() == reflect.Struct:
			f, found := fieldByKey(v, seg.key)
			if !found {
				return v, false
			}
			v = f
		default:
			return v, false
		}
	}
	return v, true
}

// fieldByKey finds the field of struct v written as key, inlined blocks
// included.
func fieldByKey(v reflect.Value, key string) (reflect.Value, bool) {
	for i := range v.NumField() {
		name, inline, ok := yamlName(v.Type().Field(i))
		switch {
		case !ok:
		case inline:
			if f, found := fieldByKey(v.Field(i), key); found {
				return f, true
			}
		case name == key:
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

type segment struct {
	key   string
	index int
}

func splitPath(path string) []segment {
	var out []segment
	for _, part := range strings.Split(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			out = append(out, segment{key: key, index: -1})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			i, _ := strconv.Atoi(num)
			out = append(out, segment{index: i})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return out
}

func loadFixture(t *testing.T) *yaml.Node {
	t.Helper()
	data, err := os.ReadFile("testdata/every-section.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func mustNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

func marshal(t *testing.T, n *yaml.Node) []byte {
	t.Helper()
	b, err := yaml.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// setNode puts value at path, creating missing mappings on the way.
func setNode(t *testing.T, n *yaml.Node, path string, value *yaml.Node) {
	t.Helper()
	segs := splitPath(path)
	for i, seg := range segs {
		last := i == len(segs)-1
		if seg.index >= 0 {
			if n.Kind != yaml.SequenceNode || seg.index >= len(n.Content) {
				t.Fatalf("%s: no element %d", path, seg.index)
			}
			if last {
				n.Content[seg.index] = value
				return
			}
			n = n.Content[seg.index]
			continue
		}
		if n.Kind != yaml.MappingNode {
			t.Fatalf("%s: %q is not in a mapping", path, seg.key)
		}
		var child *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == seg.key {
				if last {
					n.Content[j+1] = value
					return
				}
				child = n.Content[j+1]
			}
		}
		if child == nil || (child.Kind == yaml.ScalarNode && child.Tag == "!!null") {
			child = &yaml.Node{Kind: yaml.MappingNode}
			if last {
				child = value
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: seg.key}, child)
			if last {
				return
			}
		}
		n = child
	}
}

func deleteKey(t *testing.T, n *yaml.Node, path string) {
	t.Helper()
	segs := splitPath(path)
	for _, seg := range segs[:len(segs)-1] {
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == seg.key {
				n = n.Content[j+1]
				break
			}
		}
	}
	key := segs[len(segs)-1].key
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == key {
			n.Content = append(n.Content[:j], n.Content[j+2:]...)
			return
		}
	}
	t.Fatalf("%s not in the fixture", path)
}
