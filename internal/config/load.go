package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds the configuration file so a mistaken path (a log, a
// device) cannot exhaust memory.
const MaxFileSize = 8 << 20

// Load reads, expands, decodes, defaults and validates the file at path. On
// any problem it returns an Errors listing all of them.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Errors{{Message: fmt.Sprintf("reading config: %v", err)}}
	}
	defer f.Close()
	data, err := readLimited(f)
	if err != nil {
		return nil, Errors{{Message: fmt.Sprintf("reading config %s: %v", path, err)}}
	}
	return Parse(data, os.LookupEnv)
}

// LoadAll is Load for the validate command: besides every problem it
// returns the decoded configuration, defaults filled in, even when
// validation found problems, so later checks (secrets, certificates, the
// key store) can still run on the sections that are sound. The
// configuration is nil only when the file could not be decoded at all.
// It must never be served: only sections without problems may be used.
func LoadAll(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Errors{{Message: fmt.Sprintf("reading config: %v", err)}}
	}
	defer f.Close()
	data, err := readLimited(f)
	if err != nil {
		return nil, Errors{{Message: fmt.Sprintf("reading config %s: %v", path, err)}}
	}
	cfg, errs := parse(data, os.LookupEnv)
	return cfg, errs.Err()
}

func readLimited(f *os.File) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(&limitedReader{f: f, n: MaxFileSize + 1})
	if err != nil {
		return nil, err
	}
	if n > MaxFileSize {
		return nil, fmt.Errorf("file is larger than %d bytes", MaxFileSize)
	}
	return buf.Bytes(), nil
}

type limitedReader struct {
	f *os.File
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("limit reached")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.f.Read(p)
	l.n -= int64(n)
	return n, err
}

// LookupEnv is how ${VAR} references are resolved (os.LookupEnv in
// production, a map in tests).
type LookupEnv func(string) (string, bool)

// Parse decodes a configuration document. It never mutates globals and
// reports every problem it finds, each with its path.
func Parse(data []byte, env LookupEnv) (*Config, error) {
	cfg, errs := parse(data, env)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// parse returns the decoded configuration (nil when it cannot be decoded)
// and every problem.
func parse(data []byte, env LookupEnv) (*Config, Errors) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, Errors{{Message: syntaxError(data, err)}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, Errors{{Message: "config must be one YAML document"}}
	}
	var doc *yaml.Node
	switch {
	case root.Kind == 0:
		return nil, Errors{{Message: "config is empty"}}
	case root.Kind == yaml.DocumentNode && len(root.Content) == 1:
		doc = root.Content[0]
	default:
		return nil, Errors{{Message: "config must be one YAML document"}}
	}
	if doc.Kind != yaml.MappingNode {
		return nil, Errors{{Message: "config must be a mapping at the top level"}}
	}

	var errs Errors
	w := walker{errs: &errs, lines: map[int]string{}, secretLines: map[int]bool{}, env: env, set: map[string]bool{}, at: map[string]int{}}
	w.walk(doc, reflect.TypeOf(Config{}), "")
	// A value the walker refused is taken out (as if left empty), so the
	// rest of the file is still decoded and validated: one run reports
	// every problem.
	for _, n := range w.bad {
		*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
	}

	cfg := &Config{}
	if err := doc.Decode(cfg); err != nil {
		errs = append(errs, w.translate(err)...)
		return nil, errs
	}
	// Defaults go only where a key was not written: an explicit zero is
	// kept (and refused by Validate where it is invalid).
	fillDefaults(cfg, func(path string, _ reflect.Value) bool { return w.set[path] })
	cfg.contextDefaults(func(path string) bool { return w.set[path] })
	verr := cfg.Validate()
	if len(errs) == 0 {
		if ve, ok := verr.(Errors); ok {
			return cfg, ve
		}
		if verr != nil {
			return cfg, Errors{{Message: verr.Error()}}
		}
		return cfg, nil
	}
	// What Validate says about a value the walker already refused (or
	// inside it) is a consequence, not another problem.
	reported := errs
	if ve, ok := verr.(Errors); ok {
		for _, fe := range ve {
			if !coveredBy(reported, fe.Path) {
				errs = append(errs, fe)
			}
		}
	}
	// In the order of the file, so a reader can go through it top down.
	slices.SortStableFunc(errs, func(a, b FieldError) int { return w.lineOf(a.Path) - w.lineOf(b.Path) })
	return cfg, errs
}

// lineOf is the line of path in the file, or of its nearest written
// ancestor (0 for the whole file).
func (w *walker) lineOf(path string) int {
	for path != "" {
		if l, ok := w.at[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// coveredBy reports whether path is, or is inside, a path of errs.
func coveredBy(errs Errors, path string) bool {
	for _, e := range errs {
		if e.Path == path || strings.HasPrefix(path, e.Path+".") || strings.HasPrefix(path, e.Path+"[") {
			return true
		}
	}
	return false
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// walker checks every mapping key against the target type (so unknown and
// duplicate keys are reported with their paths), expands ${VAR} in scalars,
// and remembers which path each line belongs to so decode errors can be
// reported by path.
type walker struct {
	// visits bounds the walk: aliases can make a small document expand into
	// a huge tree (the "billion laughs").
	visits      int
	errs        *Errors
	lines       map[int]string
	secretLines map[int]bool
	env         LookupEnv
	// set holds the path of every key written with a non-null value.
	set map[string]bool
	// at is the line of every key and list element, by path.
	at map[string]int
	// bad are values that cannot be decoded; they are emptied before the
	// decode so that it can go on.
	bad []*yaml.Node
}

// refuse records a problem with the value n and takes n out of the decode.
func (w *walker) refuse(n *yaml.Node, path, format string, args ...any) {
	w.errs.Add(path, format, args...)
	w.bad = append(w.bad, n)
	delete(w.set, path) // decoded as left out: it takes its default
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

// maxVisits bounds the nodes one document may expand to.
const maxVisits = 200000

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if w.visits++; w.visits == maxVisits {
		w.errs.Add(path, "document is too large or too deeply aliased")
	}
	if w.visits >= maxVisits {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if _, seen := w.lines[n.Line]; !seen {
		w.lines[n.Line] = path
	}
	switch n.Kind {
	case yaml.ScalarNode:
		w.expand(n, path)
		if n.Tag == "!!null" {
			return
		}
		if reflect.PointerTo(t).Implements(unmarshalerType) {
			// Custom scalars (durations, sizes, "auth: none") are checked
			// here, where the path is known: yaml.v3 would stop at the first
			// such error and report it without a location.
			v := reflect.New(t).Interface().(yaml.Unmarshaler)
			if err := v.UnmarshalYAML(n); err != nil {
				msg := err.Error()
				if w.secretLines[n.Line] {
					msg = secretValueMsg
				}
				w.refuse(n, path, "%s", msg)
			}
			return
		}
		switch t.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Bool, reflect.Float32, reflect.Float64:
			if err := n.Decode(reflect.New(t).Interface()); err != nil {
				msg := secretValueMsg
				if !w.secretLines[n.Line] {
					msg = decodeMessage(err)
				}
				w.refuse(n, path, "%s", msg)
			}
		case reflect.Struct:
			w.refuse(n, path, "must be a mapping")
		case reflect.Slice:
			w.refuse(n, path, "must be a list")
		case reflect.Map:
			w.refuse(n, path, "must be a mapping")
		}
	case yaml.MappingNode:
		switch t.Kind() {
		case reflect.Struct:
			fields := yamlFields(t)
			seen := map[string]bool{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := Join(path, k.Value)
				w.at[p] = k.Line
				if seen[k.Value] {
					w.duplicate(k, v, p)
					continue
				}
				seen[k.Value] = true
				ft, ok := fields[k.Value]
				if !ok {
					if msg, removed := removedKey(t, k.Value); removed {
						w.errs.Add(p, "%s", msg)
						continue
					}
					w.errs.Add(p, "unknown field")
					continue
				}
				if !isNull(v) {
					w.set[p] = true
				}
				w.walk(v, ft, p)
			}
		case reflect.Map:
			seen := map[string]bool{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := Join(path, k.Value)
				w.at[p] = k.Line
				if seen[k.Value] {
					w.duplicate(k, v, p)
					continue
				}
				seen[k.Value] = true
				if !isNull(v) {
					w.set[p] = true
				}
				w.walk(v, t.Elem(), p)
			}
		default:
			w.refuse(n, path, "must not be a mapping")
		}
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			w.refuse(n, path, "must not be a list")
			return
		}
		for i, c := range n.Content {
			w.at[Index(path, i)] = c.Line
			w.walk(c, t.Elem(), Index(path, i))
		}
	}
}

// duplicate records a repeated key and hides the repeat from the decode
// (which would stop at it) under a name no field has.
func (w *walker) duplicate(k, v *yaml.Node, path string) {
	w.errs.Add(path, "duplicate key")
	k.Value = "\x00duplicate"
	w.bad = append(w.bad, v)
}

// isNull reports whether n is a YAML null ("key:", "key: ~"), which counts
// as not written: the key takes its default.
func isNull(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// expand replaces ${VAR} in a scalar. An unset variable is an error; the
// value is never echoed in any message, and lines holding expanded values
// are remembered so decode errors about them do not echo it either.
func (w *walker) expand(n *yaml.Node, path string) {
	if !strings.Contains(n.Value, "${") {
		return
	}
	var missing []string
	out := envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
		name := m[2 : len(m)-1]
		v, ok := w.env(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		w.refuse(n, path, "environment variable %s is not set", strings.Join(quoteAll(missing), ", "))
		return
	}
	w.secretLines[n.Line] = true
	n.Value = out
	// Let the expanded text resolve like a plain scalar ("8443" may fill an
	// int), except where that would turn it into null and silently empty it.
	switch out {
	case "", "~", "null", "Null", "NULL":
		n.Tag = "!!str"
	default:
		n.Tag = ""
		n.Style = 0
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

const secretValueMsg = "invalid value (from an environment variable; not shown)"

var typeErrLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// translate turns yaml.v3 decode errors ("line 7: cannot unmarshal ...")
// into path errors.
func (w *walker) translate(err error) Errors {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var out Errors
	for _, m := range msgs {
		sm := typeErrLine.FindStringSubmatch(m)
		if sm == nil {
			out.Add("", "%s", strings.TrimPrefix(m, "yaml: "))
			continue
		}
		line, _ := strconv.Atoi(sm[1])
		path, ok := w.lines[line]
		if !ok {
			path = "line " + sm[1]
		}
		msg := humanizeDecode(sm[2])
		if w.secretLines[line] {
			msg = secretValueMsg
		}
		out.Add(path, "%s", msg)
	}
	return out
}

// decodeMessage extracts the human part of a yaml.v3 decode error.
func decodeMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		if sm := typeErrLine.FindStringSubmatch(te.Errors[0]); sm != nil {
			return humanizeDecode(sm[2])
		}
		return humanizeDecode(te.Errors[0])
	}
	return err.Error()
}

var cannotUnmarshal = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (.*)$")

func humanizeDecode(m string) string {
	sm := cannotUnmarshal.FindStringSubmatch(m)
	if sm == nil {
		return m
	}
	want := sm[3]
	switch {
	case strings.Contains(want, "int"):
		want = "an integer"
	case strings.Contains(want, "bool"):
		want = "true or false"
	case strings.Contains(want, "string"):
		want = "a string"
	}
	return fmt.Sprintf("must be %s, got %q", want, sm[2])
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, inline, ok := yamlName(f)
		switch {
		case !ok:
		case inline:
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
		default:
			out[name] = f.Type
		}
	}
	return out
}
