package demo

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The demo contract promises the WAF in block mode on every route: a route
// added to the demo without it would quietly break that promise.
func TestEveryDemoRouteHasTheWAF(t *testing.T) {
	var cfg struct {
		Routes []struct {
			Name string `yaml:"name"`
			WAF  *struct {
				Mode string `yaml:"mode"`
			} `yaml:"waf"`
		} `yaml:"routes"`
	}
	// The template's placeholders are quoted strings or plain words, so
	// the routes parse without rendering it.
	if err := yaml.Unmarshal([]byte(strings.ReplaceAll(strings.ReplaceAll(configTemplate, "{{", "x"), "}}", "x")), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) == 0 {
		t.Fatal("no routes in the demo configuration")
	}
	for _, r := range cfg.Routes {
		if r.WAF == nil || r.WAF.Mode != "block" {
			t.Errorf("route %s: waf %+v, want {mode: block}", r.Name, r.WAF)
		}
	}
}
