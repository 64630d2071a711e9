package waf

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/validate"
)

const setConfig = `
listeners: [{address: "127.0.0.1:0", insecure: true}]
upstreams: [{name: up, targets: ["http://127.0.0.1:1"]}]
routes:
  - {name: a, prefix: /a, upstream: up, auth: none, waf: {}}
  - {name: b, prefix: /b, upstream: up, auth: none, waf: {mode: detect, inbound_anomaly_threshold: 20}}
  - {name: c, prefix: /c, upstream: up, auth: none, waf: {exclusions: [{rule_ids: [942100]}]}}
  - {name: d, prefix: /d, upstream: up, auth: none, waf: {exclusions: [{rule_ids: [942100]}]}}
  - {name: e, prefix: /e, upstream: up, auth: none, waf: {paranoia_level: 2, exclusions: [{tags: [attack-xss], targets: ["ARGS:html"]}]}}
  - {name: f, prefix: /f, upstream: up, auth: none}
`

func parse(t testing.TB, doc string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// One compiled instance per paranoia level, whatever the routes' modes,
// thresholds and exclusions; a reload with the same rules reuses them,
// and one with changed exclusions recompiles only that level.
func TestOneInstancePerParanoiaLevel(t *testing.T) {
	e, err := NewEngines(Options{})
	if err != nil {
		t.Fatal(err)
	}
	budget := validate.NewBudget(1 << 20)
	s1, err := e.Build(parse(t, setConfig), BuildDeps{Bodies: budget})
	if err != nil {
		t.Fatal(err)
	}
	pl1 := s1.routes["a"].waf
	for _, r := range []string{"b", "c", "d"} {
		if s1.routes[r].waf != pl1 {
			t.Errorf("route %s has its own instance", r)
		}
	}
	if s1.routes["e"].waf == pl1 || s1.routes["f"] != nil {
		t.Fatal("paranoia level 2 shares level 1's instance, or a route without waf has one")
	}
	if p := s1.routes["c"].profile; p == nil || s1.routes["d"].profile[0] != p[0] || s1.routes["a"].profile != nil {
		t.Errorf("equal exclusions must share a profile, none without: a=%v c=%v d=%v", s1.routes["a"].profile, p, s1.routes["d"].profile)
	}
	s2, err := e.Build(parse(t, setConfig), BuildDeps{Bodies: budget})
	if err != nil {
		t.Fatal(err)
	}
	if s2.routes["a"].waf != pl1 || s2.routes["e"].waf != s1.routes["e"].waf {
		t.Fatal("a reload with the same rules compiled again")
	}
	s3, err := e.Build(parse(t, strings.Replace(setConfig, "targets: [\"ARGS:html\"]", "targets: [\"ARGS:body\"]", 1)), BuildDeps{Bodies: budget})
	if err != nil {
		t.Fatal(err)
	}
	if s3.routes["a"].waf != pl1 || s3.routes["e"].waf == s1.routes["e"].waf {
		t.Fatal("a changed exclusion must recompile its level only")
	}
}

// coreTx is what the stage needs of a transaction.
type coreTx interface {
	types.Transaction
	plugintypes.TransactionState
}

// brokenTx fails like a Coraza whose body processor broke.
type brokenTx struct{ coreTx }

var errBroken = errors.New("coraza: body processor exploded")

func (brokenTx) ProcessRequestBody() (*types.Interruption, error) { return nil, errBroken }

// serve runs one request through route's stage (after a body stage), as
// the gateway's chain does, and returns the response and whether the
// next handler (the upstream) was reached.
func serve(t *testing.T, s *Set, route string, budget *validate.Budget, req *http.Request) (*httptest.ResponseRecorder, bool) {
	t.Helper()
	reached := false
	next := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		reached = true
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(200)
		return nil
	})
	rc := config.Route{Name: route}
	body := validate.ReadBody(1<<20, budget, func(*http.Request) bool { return true }).Handle(s.Stage(rc).Handle(next))
	req = req.WithContext(reqinfo.With(req.Context(), &reqinfo.Info{ID: "req-1"}))
	rec := httptest.NewRecorder()
	if err := body.ServeHTTP(rec, req); err != nil {
		problem.Write(rec, req, err)
	}
	return rec, reached
}

// A WAF that fails at request time refuses the request with 500 and
// records the failure: it never lets the request through uninspected.
func TestFailsClosed(t *testing.T) {
	e, _ := NewEngines(Options{})
	budget := validate.NewBudget(1 << 20)
	s, err := e.Build(parse(t, setConfig), BuildDeps{Bodies: budget})
	if err != nil {
		t.Fatal(err)
	}
	for _, route := range []string{"a", "b"} {
		t.Run(route, func(t *testing.T) {
			s.routes[route].newTx = func(w coraza.WAF, id string) types.Transaction {
				return brokenTx{w.NewTransactionWithID(id).(coreTx)}
			}
			req := httptest.NewRequest("POST", "/"+route, strings.NewReader(`{"a":1}`))
			req.Header.Set("Content-Type", "application/json")
			rec, reached := serve(t, s, route, budget, req)
			want := `{"type":"https://portcullis.dev/problems/internal","title":"Internal Server Error","status":500,"detail":"The gateway could not complete the request.","request_id":"req-1"}` + "\n"
			if rec.Code != 500 || rec.Body.String() != want || reached {
				t.Fatalf("%d %q (upstream reached: %v)", rec.Code, rec.Body.String(), reached)
			}
			if budget.InUse() != 0 {
				t.Fatalf("budget in use after the request: %d", budget.InUse())
			}
		})
	}
}

// The WAF's copy of a body is counted in the body budget: a body that fits
// the budget once but not twice is refused with 503 before inspection, and
// everything is given back when the request ends.
func TestBodyCopyCountedInBudget(t *testing.T) {
	e, _ := NewEngines(Options{})
	body := strings.Repeat("a=b&", 256) // 1 KiB
	for _, tc := range []struct {
		name   string
		budget int64
		want   int
	}{
		{"room for both copies", 2 * int64(len(body)), 200},
		{"room for one", int64(len(body)) + 10, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			budget := validate.NewBudget(tc.budget)
			s, err := e.Build(parse(t, setConfig), BuildDeps{Bodies: budget})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("POST", "/a", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec, _ := serve(t, s, "a", budget, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			if budget.InUse() != 0 {
				t.Fatalf("budget in use after the request: %d", budget.InUse())
			}
		})
	}
}

// Coraza never writes to the filesystem: the WAF builds with TMPDIR
// missing (Coraza's start-up check would refuse it) and inspects large
// bodies and multipart file uploads without creating a file.
func TestNoFilesystem(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", "/nonexistent/portcullis-waf")
	e, _ := NewEngines(Options{})
	budget := validate.NewBudget(8 << 20)
	s, err := e.Build(parse(t, setConfig), BuildDeps{Bodies: budget})
	if err != nil {
		t.Fatalf("building with an unusable temp dir: %v", err)
	}
	t.Setenv("TMPDIR", dir)
	big := strings.Repeat("x", 600<<10) // over Coraza's usual 128 KiB in-memory limit
	multipart := "--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\n" + big + "\r\n--B--\r\n"
	for _, tc := range []struct{ name, ctype, body string }{
		{"large form body", "application/x-www-form-urlencoded", "a=" + big},
		{"multipart file", "multipart/form-data; boundary=B", multipart},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/a", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			rec, reached := serve(t, s, "a", budget, req)
			if rec.Code != 200 || !reached {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Fatalf("Coraza wrote %d files to the temp dir", len(entries))
			}
		})
	}
}

// Blocks and detections are counted by route and rule, and the request's
// outcome (for the access log) carries the rule ids and the score.
func TestMetricsAndOutcome(t *testing.T) {
	e, _ := NewEngines(Options{})
	budget := validate.NewBudget(1 << 20)
	s, err := e.Build(parse(t, setConfig), BuildDeps{Bodies: budget})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []*reqinfo.WAFOutcome
	for _, tc := range []struct{ route, query string }{
		{"a", "q=1%27%20OR%20%271%27%3D%271%27%20--"},
		{"b", "q=1%27%20OR%20%271%27%3D%271%27%20--"},
		{"a", "page=2"},
	} {
		req := httptest.NewRequest("GET", "/"+tc.route+"?"+tc.query, nil)
		req.Header.Set("User-Agent", "test/1")
		req.Header.Set("Accept", "*/*")
		info := &reqinfo.Info{ID: "r"}
		req = req.WithContext(reqinfo.With(req.Context(), info))
		h := s.Stage(config.Route{Name: tc.route}).Handle(pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
		_ = h.ServeHTTP(httptest.NewRecorder(), req)
		outcomes = append(outcomes, info.WAF)
	}
	if o := outcomes[0]; o.Action != "blocked" || !slices.Contains(o.RuleIDs, 942100) || o.InboundScore < 5 {
		t.Errorf("blocked outcome: %+v", o)
	}
	// Route b detects, with a threshold of 20: one critical match is
	// recorded and would not have blocked.
	if o := outcomes[1]; o.Action != "pass" || !slices.Contains(o.RuleIDs, 942100) || o.InboundScore < 5 {
		t.Errorf("detect-mode outcome under the threshold: %+v", o)
	}
	if o := outcomes[2]; o.Action != "pass" || len(o.RuleIDs) != 0 || o.InboundScore != 0 {
		t.Errorf("ordinary outcome: %+v", o)
	}
	for _, c := range []struct {
		got  float64
		want float64
		name string
	}{
		{testutil.ToFloat64(e.metrics.requests.WithLabelValues("a", "blocked")), 1, "a blocked"},
		{testutil.ToFloat64(e.metrics.requests.WithLabelValues("a", "pass")), 1, "a pass"},
		{testutil.ToFloat64(e.metrics.requests.WithLabelValues("b", "pass")), 1, "b pass"},
		{testutil.ToFloat64(e.metrics.rules.WithLabelValues("a", "942100", "blocked")), 1, "a 942100 blocked"},
		{testutil.ToFloat64(e.metrics.rules.WithLabelValues("b", "942100", "detected")), 1, "b 942100 detected"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}
