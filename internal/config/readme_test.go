package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Every configuration key is documented in the README or the docs tree:
// its name appears there in backticks, alone or as the end of a dotted
// path (`rate_limits.store.redis.block_sync`, `access.flush_interval`), or
// as a section (`upstreams[]`).
func TestEveryKeyIsInTheREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	pages, _ := filepath.Glob("../../docs/*.md")
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		doc += "\n" + string(b)
	}
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
				t.Errorf("%s is not documented in README.md", p)
			}
			walk(f.Type, p)
		}
	}
	walk(reflect.TypeFor[Config](), "")
}
