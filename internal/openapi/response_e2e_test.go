package openapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/gatewaytest"
)

// Response checks (OWASP API3): what the upstream answers is held to the
// document before the client sees any of it. In enforce mode a violating
// answer is a 502 whose body holds nothing of the upstream's; in report
// mode it is relayed and counted; a response that cannot be checked
// follows the route's choice.
func TestResponseValidation(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	up := newUpstream(t)
	spec := writeFile(t, env.Dir, "transfers.yaml", fmt.Sprintf(transfersSpec, "3.1.0"))
	const secret = "4111111111111111"
	answers := map[string]func(w http.ResponseWriter){
		"ok": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"amount":10,"currency":"EUR","execute_at":"2026-01-02T03:04:05Z"}`)
		},
		"extra-property": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"amount":10,"currency":"EUR","execute_at":"2026-01-02T03:04:05Z","card_number":"`+secret+`"}`)
		},
		"write-only": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"amount":10,"currency":"EUR","execute_at":"2026-01-02T03:04:05Z","pin":"`+secret+`"}`)
		},
		"undeclared-status": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, `{"debug":"`+secret+`"}`)
		},
		"wrong-media-type": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, `<p>`+secret+`</p>`)
		},
		"duplicate-key": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"amount":10,"currency":"EUR","execute_at":"2026-01-02T03:04:05Z","amount":"`+secret+`"}`)
		},
		"too-large": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"amount":10,"currency":"EUR","execute_at":"2026-01-02T03:04:05Z","reference":"`+strings.Repeat("a", 2048)+`"}`)
		},
		"stream": func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: "+secret+"\n\n")
		},
	}
	up.respond = func(w http.ResponseWriter, r *http.Request) { answers[r.Header.Get("X-Answer")](w) }
	route := func(name, prefix, mode, uninspectable string) string {
		return `  - name: ` + name + `
    prefix: ` + prefix + `
    upstream: api
    auth: none
    openapi:
      spec: ` + spec + `
      base_path: ` + prefix + `
      responses: {mode: ` + mode + `, max_body_bytes: 1KiB, uninspectable: ` + uninspectable + `}
`
	}
	g := start(t, gatewayConfig(env, up.url, route("enforce", "/enforce", "enforce", "refuse")+
		route("relay", "/relay", "enforce", "relay")+route("report", "/report", "report", "refuse")))
	const badGateway = "The upstream's response does not match the API's contract."
	tests := []struct {
		route, answer string
		status        int
	}{
		{"enforce", "ok", 200},
		{"enforce", "extra-property", 502},
		{"enforce", "write-only", 502},
		{"enforce", "undeclared-status", 502},
		{"enforce", "wrong-media-type", 502},
		{"enforce", "duplicate-key", 502},
		{"enforce", "too-large", 502},
		{"enforce", "stream", 502},
		{"relay", "too-large", 200},
		{"relay", "stream", 200},
		{"relay", "extra-property", 502},
		{"report", "extra-property", 200},
		{"report", "undeclared-status", 418},
		{"report", "too-large", 200},
	}
	for proto, c := range clients(env) {
		t.Run(proto, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.route+"/"+tc.answer, func(t *testing.T) {
					got := send(t, c, proto, "GET", g.url+"/"+tc.route+"/v1/transfers/"+transferID,
						map[string]string{"X-Trace": "deadbeef", "X-Answer": tc.answer}, "")
					if got.status != tc.status {
						t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.body)
					}
					if tc.status == 502 {
						want := problemBody("response-validation-failed", "Bad Gateway", 502, badGateway, "", got.header.Get("X-Request-Id"))
						if got.body != want || got.header.Get("Content-Type") != "application/problem+json" {
							t.Fatalf("body %s", got.body)
						}
						return
					}
					rec := httptest.NewRecorder()
					answers[tc.answer](rec)
					if got.body != rec.Body.String() {
						t.Fatalf("relayed %q, want %q", got.body, rec.Body.String())
					}
				})
			}
		})
	}
	for _, c := range []struct {
		metric, route, kind string
		want                float64
	}{
		{"portcullis_validation_failures_total", "enforce", "response_body", 2 * 3},
		{"portcullis_validation_failures_total", "enforce", "response_status", 2},
		{"portcullis_validation_failures_total", "enforce", "response_media_type", 2},
		{"portcullis_validation_failures_total", "enforce", "response_uninspectable", 2 * 2},
		{"portcullis_validation_findings_total", "relay", "response_uninspectable", 2 * 2},
		{"portcullis_validation_findings_total", "report", "response_body", 2},
		{"portcullis_validation_findings_total", "report", "response_status", 2},
		{"portcullis_validation_findings_total", "report", "response_uninspectable", 2},
	} {
		if n := counter(t, g, c.metric, map[string]string{"route": c.route, "kind": c.kind}); n != c.want {
			t.Errorf("%s{route=%s,kind=%s} = %v, want %v", c.metric, c.route, c.kind, n, c.want)
		}
	}
	// What was found is logged, where it was, never what.
	log := g.log.String()
	if strings.Contains(log, secret) {
		t.Fatalf("the log holds a response value:\n%s", log)
	}
	if !strings.Contains(log, `"findings":"body \"/card_number\": is not allowed"`) {
		t.Fatalf("report finding not logged:\n%s", log)
	}
}
