package waf_test

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/waf"
)

// clients are an HTTP/1.1 and an HTTP/2 client trusting env's CA.
func clients(env *gatewaytest.Env) map[string]*http.Client {
	h2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: env.CA.Pool()}, ForceAttemptHTTP2: true}
	return map[string]*http.Client{"HTTP/1.1": env.Client(), "HTTP/2": {Transport: h2, Timeout: 10 * time.Second}}
}

func wafRoutes() string {
	return `routes:
  - name: blocking
    prefix: /block
    upstream: echo
    auth: none
    waf: {}
  - name: detecting
    prefix: /detect
    upstream: echo
    auth: none
    waf: {mode: detect}
  - name: excluded
    prefix: /excluded
    upstream: echo
    auth: none
    waf: {exclusions: [{tags: [attack-sqli], targets: ["ARGS:q"]}]}
  - name: plain
    prefix: /plain
    upstream: echo
    auth: none
  # The WAF alone: json_limits (on by default, before the WAF) would
  # refuse a body with 1000 members first.
  - name: waf-only
    prefix: /raw
    upstream: echo
    auth: none
    json_limits: {enabled: false}
    waf: {}
`
}

// filler is n harmless arguments joined by sep: a=1 pairs, or JSON
// members when sep is ",".
func filler(n int, sep string) string {
	parts := make([]string, n)
	for i := range parts {
		if sep == "," {
			parts[i] = `"f` + strconv.Itoa(i) + `":1`
		} else {
			parts[i] = "f" + strconv.Itoa(i) + "=1"
		}
	}
	return strings.Join(parts, sep)
}

func problemBody(id string) string {
	return `{"type":"https://portcullis.dev/problems/waf-blocked","title":"Forbidden","status":403,"detail":"The request was refused by the web application firewall.","request_id":"` + id + "\"}\n"
}

// What a client and the upstream see of attacks and ordinary requests on
// routes in block mode, detect mode, with a route-scoped exclusion, and
// without a WAF, over HTTP/1.1 and HTTP/2. A block is 403 problem+json
// with the request id that names no rule; the upstream never sees it.
func TestWAFThroughTheGateway(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	g := env.Start(t, env.Base("none")+wafRoutes(), gateway.Deps{})
	sqli := url.QueryEscape("1' OR '1'='1' --")
	tests := []struct {
		name, method, path, ctype, body string
		wantStatus                      int
		wantBlocked                     bool
	}{
		{"ordinary GET", "GET", "/block/accounts?page=2", "", "", 200, false},
		{"ordinary JSON POST", "POST", "/block/payments", "application/json", `{"amount":"10.00","currency":"EUR"}`, 200, false},
		{"SQL injection in the query", "GET", "/block/accounts?q=" + sqli, "", "", 403, true},
		{"SQL injection in a JSON body", "POST", "/block/payments", "application/json", `{"note":"1' OR '1'='1' --"}`, 403, true},
		{"XSS in a form body", "POST", "/block/comments", "application/x-www-form-urlencoded", "text=" + url.QueryEscape("<script>alert(document.cookie)</script>"), 403, true},
		{"detect mode lets it through", "GET", "/detect/accounts?q=" + sqli, "", "", 200, false},
		{"excluded parameter", "GET", "/excluded/accounts?q=" + sqli, "", "", 200, false},
		{"exclusion is per parameter", "GET", "/excluded/accounts?other=" + sqli, "", "", 403, true},
		{"no WAF on the route", "GET", "/plain/accounts?q=" + sqli, "", "", 200, false},
		// Coraza keeps 1000 arguments per source and drops the rest
		// uninspected: a request past that is refused, so filler cannot
		// hide a payload.
		// (A request at the limit passes but costs CRS 1000 arguments'
		// work: seconds under -race, so a tenth of it here.)
		{"100 query arguments", "GET", "/block/accounts?" + filler(100, "&"), "", "", 200, false},
		{"payload behind 1000 query arguments", "GET", "/block/accounts?" + filler(1000, "&") + "&q=" + sqli, "", "", 403, true},
		{"payload behind 1000 JSON values", "POST", "/raw/payments", "application/json", `{` + filler(1000, ",") + `,"note":"1' OR '1'='1' --"}`, 403, true},
		{"payload behind 1000 form fields", "POST", "/block/comments", "application/x-www-form-urlencoded", filler(1000, "&") + "&text=" + url.QueryEscape("<script>alert(document.cookie)</script>"), 403, true},
	}
	for proto, c := range clients(env) {
		for _, tc := range tests {
			t.Run(proto+"/"+tc.name, func(t *testing.T) {
				var body *strings.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				var req *http.Request
				if body != nil {
					req, _ = http.NewRequest(tc.method, g.URL+tc.path, body)
				} else {
					req, _ = http.NewRequest(tc.method, g.URL+tc.path, nil)
				}
				req.Header.Set("User-Agent", "portcullis-test/1.0")
				req.Header.Set("Accept", "application/json")
				if tc.ctype != "" {
					req.Header.Set("Content-Type", tc.ctype)
				}
				resp := gatewaytest.Do(t, c, req)
				if resp.Status != tc.wantStatus {
					t.Fatalf("status %d, want %d: %s", resp.Status, tc.wantStatus, resp.Body)
				}
				if resp.Header.Get("X-Request-Id") == "" {
					t.Fatal("no request id")
				}
				if !tc.wantBlocked {
					if got := resp.Echo(t); got.Path != strings.SplitN(tc.path, "?", 2)[0] {
						t.Fatalf("upstream saw %q", got.Path)
					}
					return
				}
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Fatalf("content type %q", ct)
				}
				if got, want := string(resp.Body), problemBody(resp.Header.Get("X-Request-Id")); got != want {
					t.Fatalf("body\n got %s\nwant %s", got, want)
				}
			})
		}
	}
	g.Stop()
	log := env.ReadAccessLog(t)
	var blocked, detected int
	for _, line := range strings.Split(log, "\n") {
		switch {
		case strings.Contains(line, `"waf_action":"blocked"`):
			blocked++
			if !strings.Contains(line, `"waf_rule_ids":"`) || !strings.Contains(line, `"waf_score":`) {
				t.Errorf("blocked line without rules or score: %s", line)
			}
		case strings.Contains(line, `"waf_action":"detected"`):
			detected++
		}
		if strings.Contains(line, "OR '1'") || strings.Contains(line, "<script>") {
			t.Errorf("the access log holds a matched value: %s", line)
		}
	}
	if blocked != 14 || detected != 2 {
		t.Errorf("access log: %d blocked, %d detected lines, want 14 and 2:\n%s", blocked, detected, log)
	}
	if !strings.Contains(log, `"waf_rule_ids":"942100`) && !strings.Contains(log, `942100`) {
		t.Errorf("no SQL injection rule in the access log:\n%s", log)
	}
}

// The WAF log is the ModSecurity one-line format, with values masked as
// in every other log: credential parameters, cookies, card numbers and
// query values never appear in it.
func TestWAFLogMasksValues(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	logFile := filepath.Join(env.Dir, "waf.log")
	cfg := env.Base("none") + wafRoutes()
	cfg = strings.Replace(cfg, "logging:\n", "logging:\n  waf: {enabled: true, output: "+logFile+", flush_interval: 1ms}\n", 1)
	engines, err := waf.NewEngines(waf.Options{ErrorLog: gatewaytest.Parse(t, cfg).Logging.WAF})
	if err != nil {
		t.Fatal(err)
	}
	g := env.Start(t, cfg, gateway.Deps{WAF: engines}).URL
	t.Cleanup(func() { _ = engines.Close() })
	const card = "4111111111111111"
	post := func(path, body, cookie string) string {
		req, _ := http.NewRequest("POST", g+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp := gatewaytest.Do(t, env.Client(), req)
		if resp.Status != 403 {
			t.Fatalf("status %d: %s", resp.Status, resp.Body)
		}
		return resp.Header.Get("X-Request-Id")
	}
	id1 := post("/block/login?session_token=s3cr3t-query-value&card="+card, "user=alice&password="+url.QueryEscape("x' OR '1'='1' --"), "sid="+url.QueryEscape("y' OR '1'='1"))
	id2 := post("/block/notes", "note="+url.QueryEscape(card+"' OR 1=1 --"), "")
	var log string
	for i := 0; i < 200; i++ {
		b, _ := os.ReadFile(logFile)
		if log = string(b); strings.Count(log, `[id "949110"]`) == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{`Coraza: Access denied (phase 2). Inbound Anomaly Score Exceeded`, `[id "942100"]`, `[data "[REDACTED] within `,
		`[uri "/block/login?session_token=[REDACTED]&card=[REDACTED]"]`, `[unique_id "` + id1 + `"]`, `[unique_id "` + id2 + `"]`, "************1111"} {
		if !strings.Contains(log, want) {
			t.Errorf("WAF log lacks %s:\n%s", want, log)
		}
	}
	for _, leak := range []string{"x' OR", "y' OR", "s3cr3t", card} {
		if strings.Contains(log, leak) {
			t.Errorf("WAF log holds %q:\n%s", leak, log)
		}
	}
}
