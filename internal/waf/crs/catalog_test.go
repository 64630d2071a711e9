package crs

import (
	"slices"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/types"
)

// The catalog read from the rule text is the rule set Coraza compiles:
// the same ids with the same tags.
func TestCatalogMatchesCoraza(t *testing.T) {
	seen := map[int][]string{}
	cfg := experimental.WAFConfigWithRuleObserver(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).
		WithDirectives("Include @crs-setup.conf.example\nInclude @owasp_crs/*.conf"),
		func(r types.RuleMetadata) {
			if r.ID() >= 900000 && r.ID() < 1000000 && r.ID() != 900990 {
				seen[r.ID()] = r.Tags()
			}
		})
	if _, err := coraza.NewWAF(cfg); err != nil {
		t.Fatal(err)
	}
	cat := Load()
	if len(seen) != len(cat.rules) || len(seen) < 600 {
		t.Fatalf("Coraza compiled %d rules, the catalog has %d", len(seen), len(cat.rules))
	}
	detection := 0
	for id, tags := range seen {
		r, ok := cat.Rule(id)
		if !ok {
			t.Errorf("rule %d is not in the catalog", id)
			continue
		}
		if !slices.Equal(r.Tags, tags) {
			t.Errorf("rule %d: catalog tags %v, Coraza %v", id, r.Tags, tags)
		}
		if r.Detection() {
			detection++
		}
	}
	if r, _ := cat.Rule(942100); r.ParanoiaLevel != 1 || !r.Detection() || r.File != "REQUEST-942-APPLICATION-ATTACK-SQLI.conf" {
		t.Errorf("942100: %+v", r)
	}
	if r, _ := cat.Rule(949110); r.Detection() {
		t.Errorf("949110 must not be a detection rule: %+v", r)
	}
	if detection < 300 {
		t.Errorf("only %d detection rules", detection)
	}
}
