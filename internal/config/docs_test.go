package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// docsTree is every page of docs/, where the configuration reference lives.
func docsTree(t *testing.T) string {
	t.Helper()
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages in docs/ (%v)", err)
	}
	var doc strings.Builder
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		doc.Write(b)
		doc.WriteString("\n")
	}
	return doc.String()
}

// Every configuration key is documented in the docs tree: its name appears
// there in backticks, alone or as the end of a dotted path
// (`rate_limits.store.redis.block_sync`, `access.flush_interval`), or as a
// section (`upstreams[]`).
func TestEveryKeyIsDocumented(t *testing.T) {
	doc := docsTree(t)
	documented := func(name string) bool {
		for _, form := range []string{"`" + name + "`", "." + name + "`", "`" + name + "[]", "." + name + "[]", "`" + name + ".", "." + name + " /", "." + name + "."} {
			if strings.Contains(doc, form) {
				return true
			}
		}
		return false
	}
	seen := map[reflect.Type]bool{}
	var walk func(tp reflect.Type, path string)
	walk = func(tp reflect.Type, path string) {
		for tp.Kind() == reflect.Pointer || tp.Kind() == reflect.Slice || tp.Kind() == reflect.Map {
			tp = tp.Elem()
		}
		if tp.Kind() != reflect.Struct || seen[tp] {
			return
		}
		seen[tp] = true
		for i := range tp.NumField() {
			f := tp.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			p := strings.TrimPrefix(path+"."+name, ".")
			if !documented(name) {
				t.Errorf("%s is not documented in docs/", p)
			}
			walk(f.Type, p)
		}
	}
	walk(reflect.TypeFor[Config](), "")
}

// The configuration reference starts from one index: every top-level
// section of the file has a row in the table of docs/configuration.md that
// says which page documents it.
func TestEverySectionIsIndexed(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## Where each section is documented\n")
	if !ok {
		t.Fatal(`docs/configuration.md lacks the section "## Where each section is documented"`)
	}
	index, _, _ := strings.Cut(rest, "\n## ")
	listed := map[string]bool{}
	for _, line := range strings.Split(index, "\n") {
		if first, _, ok := strings.Cut(strings.TrimPrefix(line, "|"), "|"); ok && strings.HasPrefix(line, "|") {
			for _, m := range regexp.MustCompile("`([a-z_]+)(\\[\\])?`").FindAllStringSubmatch(first, -1) {
				listed[m[1]] = true
			}
		}
	}
	tp := reflect.TypeFor[Config]()
	for i := range tp.NumField() {
		name, _, _ := strings.Cut(tp.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			if !listed[name] {
				t.Errorf("top-level section %s has no row in the index of docs/configuration.md (\"Where each section is documented\"): add one that links the page documenting it", name)
			}
		})
	}
}
