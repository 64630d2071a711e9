// Package crs owns the catalog of the OWASP Core Rule Set the gateway
// embeds (github.com/corazawaf/coraza-coreruleset): which rule ids and
// tags exist, which of them are detection rules, and at which paranoia
// level each runs. It reads the rule files' text and compiles nothing, so
// configuration validation can refuse an unknown rule id or tag with its
// path without building a WAF (that costs hundreds of milliseconds).
package crs

import (
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
)

// Version is the CRS release the catalog describes.
const Version = "4.25.0"

// Rule is one rule of the set.
type Rule struct {
	ID int
	// File is the rule file's base name (REQUEST-942-APPLICATION-ATTACK-SQLI.conf).
	File string
	// ParanoiaLevel is the level from which the rule runs (1 to 4); 0 for
	// rules that detect nothing themselves (initialisation, paranoia
	// skips, anomaly evaluation, correlation).
	ParanoiaLevel int
	// Tags are the rule's tag: values.
	Tags []string
}

// Detection reports whether the rule detects something (and so may be
// excluded on a route).
func (r Rule) Detection() bool { return r.ParanoiaLevel > 0 }

// Response reports whether the rule belongs to the response side.
func (r Rule) Response() bool { return strings.HasPrefix(r.File, "RESPONSE-") }

// Catalog is the rule set's index.
type Catalog struct {
	rules map[int]Rule
	tags  map[string]bool // tags of detection rules
}

// Rule returns the rule with id.
func (c *Catalog) Rule(id int) (Rule, bool) {
	r, ok := c.rules[id]
	return r, ok
}

// HasDetectionTag reports whether some detection rule carries tag.
func (c *Catalog) HasDetectionTag(tag string) bool { return c.tags[tag] }

// Rules returns every rule, by id.
func (c *Catalog) Rules() []Rule {
	out := make([]Rule, 0, len(c.rules))
	for _, r := range c.rules {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Rule) int { return a.ID - b.ID })
	return out
}

// Load returns the catalog of the embedded rule set, read once.
var Load = sync.OnceValue(func() *Catalog {
	c, err := parse(coreruleset.FS)
	if err != nil {
		// The rules are embedded in the binary: unreadable means a
		// broken build, not a configuration problem.
		panic("crs: reading the embedded rule set: " + err.Error())
	}
	return c
})

var (
	idRe  = regexp.MustCompile(`[",]\s*id:'?(\d+)`)
	tagRe = regexp.MustCompile(`tag:'([^']*)'`)
)

func parse(fsys fs.FS) (*Catalog, error) {
	files, err := fs.Glob(fsys, "@owasp_crs/*.conf")
	if err != nil {
		return nil, err
	}
	c := &Catalog{rules: map[int]Rule{}, tags: map[string]bool{}}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		// A directive continues over lines ending in a backslash.
		text := strings.ReplaceAll(string(b), "\\\n", " ")
		for _, line := range strings.Split(text, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "SecRule ") && !strings.HasPrefix(line, "SecAction ") {
				continue
			}
			m := idRe.FindStringSubmatch(line)
			if m == nil {
				continue // a chained rule: its head carries the id and tags
			}
			id, _ := strconv.Atoi(m[1])
			r := Rule{ID: id, File: path.Base(f)}
			for _, t := range tagRe.FindAllStringSubmatch(line, -1) {
				r.Tags = append(r.Tags, t[1])
				if lvl, ok := strings.CutPrefix(t[1], "paranoia-level/"); ok {
					r.ParanoiaLevel, _ = strconv.Atoi(lvl)
				}
			}
			c.rules[id] = r
			if r.Detection() {
				for _, t := range r.Tags {
					c.tags[t] = true
				}
			}
		}
	}
	return c, nil
}
