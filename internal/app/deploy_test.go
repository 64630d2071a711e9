package app

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/pki"
)

var metricName = regexp.MustCompile(`\bportcullis_[a-z0-9_]+`)

// deployMetrics are the metric names the alert rules and the dashboard
// use.
func deployMetrics(t *testing.T) []string {
	t.Helper()
	var exprs []string
	b, err := os.ReadFile("../../deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	b, err = os.ReadFile("../../deploy/grafana/portcullis.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "query") {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash)
	var names []string
	for _, e := range exprs {
		names = append(names, metricName.FindAllString(e, -1)...)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) < 25 {
		t.Fatalf("only %d metric names found in the rules and the dashboard: %v", len(names), names)
	}
	return names
}

// Every metric the alert rules and the dashboard name is exported by a
// gateway that has just started and served nothing: series exist at zero
// from the start, so rules over rate() and increase() work from the first
// scrape.
func TestDeployMetricsAreExported(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("deploy test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "gw", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := leaf.WriteFiles(dir, "gw")
	if err != nil {
		t.Fatal(err)
	}
	sec := keystest.NewSecrets(t)
	env := map[string]string{"PEPPER": sec.Pepper, "MASTER_KEY": sec.MasterKey, "WEBHOOK_SECRET": strings.Repeat("w", 32)}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Parse([]byte(`
listeners:
  - name: public
    address: "127.0.0.1:0"
    tls: {cert_file: "`+cert+`", key_file: "`+key+`"}
ops: {address: "127.0.0.1:0"}
upstreams: [{name: api, targets: ["http://127.0.0.1:9"]}]
routes:
  - {name: accounts, path: /v1/accounts, methods: [GET], upstream: api, auth: {authenticators: [keys]}, rate_limits: [per-consumer]}
authenticators: [{name: keys, api_key: {}}]
keys:
  store: {driver: sqlite, path: "`+filepath.Join(dir, "keys.db")+`"}
  pepper: {env: PEPPER}
  master_key: {env: MASTER_KEY}
rate_limits:
  policies: [{name: per-consumer, rate: {limit: 10, period: 1s}}]
logging: {level: error, access: {enabled: false}}
security:
  log: {enabled: false}
  # Per-webhook series exist for each configured webhook (none is sent
  # here: no event of its types happens).
  webhooks: [{name: soc, url: "https://127.0.0.1:9/hook", secret: "${WEBHOOK_SECRET}"}]
`), lookup)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(cfg, Options{Log: slog.New(slog.DiscardHandler), Env: lookup})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + p.Server.Addr("ops") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	exported := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		exported[name] = true
	}
	for _, name := range deployMetrics(t) {
		t.Run(name, func(t *testing.T) {
			if !exported[name] {
				t.Fatalf("%s is used by deploy/ but the gateway does not export it at start", name)
			}
		})
	}
}
