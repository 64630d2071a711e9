package config

import (
	"strings"
	"testing"
)

const wafBase = `
listeners:
  - address: "127.0.0.1:8443"
    insecure: true
upstreams:
  - name: up
    targets: ["http://127.0.0.1:9000"]
routes:
  - name: r1
    path: /r1
    upstream: up
    auth: none
    max_body_bytes: 64KiB
`

// A waf block with nothing in it is the safe default: block at PL1 with
// CRS's thresholds, every accepted body inspected, responses not.
func TestWAFDefaults(t *testing.T) {
	cfg, err := Parse([]byte(wafBase+"    waf: {}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Routes[0].WAF
	switch {
	case w.Mode != "block", w.ParanoiaLevel != 1, w.InboundAnomalyThreshold != 5, w.OutboundAnomalyThreshold != 4:
		t.Fatalf("defaults: %+v", w)
	case *w.RequestBodyLimit != 64<<10:
		t.Fatalf("request_body_limit = %d, want the route's max_body_bytes", *w.RequestBodyLimit)
	case w.Response.Enabled, w.Response.BodyLimit != 512<<10, w.Response.OverLimit != "refuse":
		t.Fatalf("response defaults: %+v", w.Response)
	case cfg.Logging.WAF.Enabled, cfg.Logging.WAF.Output != "stderr":
		t.Fatalf("waf log defaults: %+v", cfg.Logging.WAF)
	}
	if cfg.Routes[0].WAF == nil {
		t.Fatal("waf: {} must turn the WAF on")
	}
	cfg, err = Parse([]byte(wafBase), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Routes[0].WAF != nil {
		t.Fatal("a route without waf has none")
	}
}

// Bad WAF settings are refused at load with their path.
func TestWAFValidation(t *testing.T) {
	tests := []struct {
		name, waf, want string
	}{
		{"paranoia too high", `{paranoia_level: 5}`, "routes[0].waf.paranoia_level: must be between 1 and 4; got 5"},
		{"paranoia zero", `{paranoia_level: 0}`, "routes[0].waf.paranoia_level: must be between 1 and 4; got 0"},
		{"mode", `{mode: log}`, `routes[0].waf.mode: must be block or detect; got "log"`},
		{"threshold zero", `{inbound_anomaly_threshold: 0}`, "routes[0].waf.inbound_anomaly_threshold: must be between 1 and 10000"},
		{"outbound threshold", `{outbound_anomaly_threshold: -1}`, "routes[0].waf.outbound_anomaly_threshold: must be between 1 and 10000"},
		{"unknown rule id", `{exclusions: [{rule_ids: [942100, 123456]}]}`, "routes[0].waf.exclusions[0].rule_ids[1]: unknown rule id 123456 (not in OWASP CRS 4.25.0)"},
		{"evaluation rule", `{exclusions: [{rule_ids: [949110]}]}`, "routes[0].waf.exclusions[0].rule_ids[0]: rule 949110 detects nothing itself and cannot be excluded (to stop blocking, use mode: detect)"},
		{"unknown tag", `{exclusions: [{tags: [attack-nothing]}]}`, `routes[0].waf.exclusions[0].tags[0]: unknown tag "attack-nothing" (no detection rule of OWASP CRS 4.25.0 has it)`},
		{"tag injection", `{exclusions: [{tags: ["attack-sqli,ctl:ruleEngine=Off"]}]}`, `routes[0].waf.exclusions[0].tags[0]: invalid tag "attack-sqli,ctl:ruleEngine=Off"`},
		{"empty exclusion", `{exclusions: [{targets: ["ARGS:q"]}]}`, "routes[0].waf.exclusions[0]: one of rule_ids or tags is required"},
		{"unknown collection", `{exclusions: [{rule_ids: [942100], targets: ["ENV:x"]}]}`, `routes[0].waf.exclusions[0].targets[0]: invalid target "ENV:x": the collection must be one of`},
		{"key injection", `{exclusions: [{rule_ids: [942100], targets: ["ARGS:a,ctl:ruleEngine=Off"]}]}`, `routes[0].waf.exclusions[0].targets[0]: invalid target "ARGS:a,ctl:ruleEngine=Off": the key must be`},
		{"body limit over max_body_bytes", `{request_body_limit: 1MiB}`, "routes[0].waf.request_body_limit: must not exceed the route's max_body_bytes (65536)"},
		{"response limit zero", `{response: {body_limit: 0}}`, "routes[0].waf.response.body_limit: must be between 1B and 64MiB"},
		{"over_limit", `{response: {over_limit: drop}}`, `routes[0].waf.response.over_limit: must be refuse or relay; got "drop"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(wafBase+"    waf: "+tc.waf+"\n"), noEnv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
		})
	}
	t.Run("valid exclusions", func(t *testing.T) {
		cfg, err := Parse([]byte(wafBase+`    waf: {paranoia_level: 4, exclusions: [{rule_ids: [942100], tags: [attack-xss], targets: ["ARGS:password", REQUEST_BODY, "ARGS_POST:json.user.password"]}]}`+"\n"), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		ts := cfg.Routes[0].WAF.Exclusions[0].Targets
		if ts[0].Collection() != "ARGS" || ts[0].Key() != "password" || ts[1].String() != "REQUEST_BODY" || ts[2].Key() != "json.user.password" {
			t.Fatalf("targets: %v", ts)
		}
	})
}
