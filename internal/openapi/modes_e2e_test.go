package openapi_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gatewaytest"
)

// Report mode lets a violating request through, counts it and logs where
// it was wrong, never the value; the upstream's document is shared by its
// routes, and a route opts out with mode: off.
func TestReportModeAndSharing(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	up := newUpstream(t)
	spec := writeFile(t, env.Dir, "transfers.yaml", fmt.Sprintf(transfersSpec, "3.0.3"))
	yaml := strings.Replace(gatewayConfig(env, up.url, `  - name: shared
    prefix: /v1/transfers
    upstream: api
    auth: none
  - name: report
    prefix: /report
    upstream: api
    auth: none
    openapi: {spec: `+spec+`, mode: report, base_path: /report}
  - name: opted-out
    prefix: /v1/other
    upstream: api
    auth: none
    openapi: {mode: off}
`), `    targets: ["`+up.url+`"]
`, `    targets: ["`+up.url+`"]
    openapi: {spec: `+spec+`}
`, 1)
	g := start(t, yaml)
	const card = "4111111111111111"
	bad := `{"amount":"` + card + `","currency":"EUR","execute_at":"2026-01-02T03:04:05Z"}`
	for proto, c := range clients(env) {
		t.Run(proto, func(t *testing.T) {
			post := map[string]string{"Content-Type": "application/json"}
			if got := send(t, c, proto, "POST", g.url+"/v1/transfers", post, bad); got.status != 400 {
				t.Fatalf("the upstream's document on its route: %d %s", got.status, got.body)
			}
			before := up.hits.Load()
			if got := send(t, c, proto, "POST", g.url+"/report/v1/transfers", post, bad); got.status != 201 || up.lastBody() != bad || up.hits.Load() != before+1 {
				t.Fatalf("report mode: %d %s", got.status, got.body)
			}
			if got := send(t, c, proto, "DELETE", g.url+"/report/v1/transfers", nil, ""); got.status != 200 {
				t.Fatalf("report mode, undeclared operation: %d", got.status)
			}
			if got := send(t, c, proto, "POST", g.url+"/v1/other", post, bad); got.status != 201 {
				t.Fatalf("mode off: %d %s", got.status, got.body)
			}
		})
	}
	if n := counter(t, g, "portcullis_validation_findings_total", map[string]string{"route": "report", "kind": "body"}); n != 2 {
		t.Errorf("report findings counted %v, want 2", n)
	}
	if n := counter(t, g, "portcullis_validation_findings_total", map[string]string{"route": "report", "kind": "unknown_operation"}); n != 2 {
		t.Errorf("report unknown operations counted %v, want 2", n)
	}
	if n := counter(t, g, "portcullis_validation_failures_total", map[string]string{"route": "report", "kind": "body"}); n != 0 {
		t.Errorf("report mode counted failures: %v", n)
	}
	log := g.log.String()
	if strings.Contains(log, card) {
		t.Fatalf("the log holds the rejected value:\n%s", log)
	}
	if !strings.Contains(log, `"msg":"validation finding","route":"report"`) || !strings.Contains(log, `"findings":"body \"/amount\": must be of type number"`) {
		t.Fatalf("finding not logged:\n%s", log)
	}
}

// OpenAPI 3.1 documents are validated as JSON Schema 2020-12: keywords
// 3.0 does not have are enforced, and readOnly still is.
func TestOpenAPI31Keywords(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	up := newUpstream(t)
	spec := writeFile(t, env.Dir, "orders.yaml", `openapi: 3.1.0
info: {title: orders, version: "1"}
paths:
  /orders:
    post:
      parameters:
        - name: channel
          in: query
          schema: {const: web}
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              unevaluatedProperties: false
              required: [kind, note]
              properties:
                id: {type: string, readOnly: true}
                kind: {enum: [card, transfer]}
                note: {type: [string, "null"], maxLength: 5}
                pair: {type: array, prefixItems: [{type: string}, {type: integer}]}
              if: {properties: {kind: {const: card}}}
              then: {required: [last4], properties: {last4: {type: string, pattern: "^[0-9]{4}$"}}}
      responses:
        "201": {description: ok}
`)
	g := start(t, gatewayConfig(env, up.url, `  - name: orders
    path: /orders
    upstream: api
    auth: none
    openapi: {spec: `+spec+`}
`))
	tests := []struct {
		name, query, body string
		status            int
		errs              string
	}{
		{name: "valid", body: `{"kind":"transfer","note":null,"pair":["a",1]}`, status: 201},
		{name: "valid card", query: "?channel=web", body: `{"kind":"card","note":"x","last4":"1234"}`, status: 201},
		{name: "if/then", body: `{"kind":"card","note":"x"}`, status: 400, errs: `[{"pointer":"/last4","reason":"is required"}]`},
		{name: "unevaluatedProperties", body: `{"kind":"transfer","note":"x","debug":true}`, status: 400, errs: `[{"pointer":"/debug","reason":"is not allowed"}]`},
		{name: "type array", body: `{"kind":"transfer","note":7}`, status: 400, errs: `[{"pointer":"/note","reason":"must be of type null or string"}]`},
		{name: "prefixItems", body: `{"kind":"transfer","note":"x","pair":[1,"a"]}`, status: 400,
			errs: `[{"pointer":"/pair/0","reason":"must be of type string"},{"pointer":"/pair/1","reason":"must be of type integer"}]`},
		{name: "readOnly", body: `{"id":"x","kind":"transfer","note":"x"}`, status: 400, errs: `[{"pointer":"/id","reason":"is read-only and cannot be sent"}]`},
		{name: "const parameter", query: "?channel=api", body: `{"kind":"transfer","note":"x"}`, status: 400,
			errs: `[{"parameter":"channel","in":"query","reason":"is not the allowed value"}]`},
	}
	for proto, c := range clients(env) {
		t.Run(proto, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					got := send(t, c, proto, "POST", g.url+"/orders"+tc.query, map[string]string{"Content-Type": "application/json"}, tc.body)
					if got.status != tc.status {
						t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.body)
					}
					if tc.errs != "" {
						if want := problemBody("request-validation-failed", "Bad Request", 400, detail400, tc.errs, got.header.Get("X-Request-Id")); got.body != want {
							t.Fatalf("body\n got %s\nwant %s", got.body, want)
						}
					}
				})
			}
		})
	}
}

// A document is read and compiled at load: what is wrong with it is
// refused with the configuration path, and a reload reads it again.
func TestDocumentLoad(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	up := newUpstream(t)
	valid := fmt.Sprintf(transfersSpec, "3.0.3")
	outside := writeFile(t, env.Dir, "outside.yaml", "type: string\n")
	sub := env.Dir + "/specs"
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, content, where, want string
	}{
		{"missing file", "", "routes[0].openapi.spec", "no such file or directory"},
		{"not YAML", "openapi: [", "routes[0].openapi.spec", "bad.yaml"},
		{"swagger 2", "swagger: \"2.0\"\ninfo: {title: t, version: \"1\"}\npaths: {}\n", "routes[0].openapi.spec", `openapi "" is not supported`},
		{"OpenAPI 3.2", strings.Replace(valid, "openapi: 3.0.3", "openapi: 3.2.0", 1), "routes[0].openapi.spec", `openapi "3.2.0" is not supported`},
		{"bad pattern", strings.Replace(valid, `"^[A-Za-z0-9 ]{1,35}$"`, `"(?<=x)"`, 1), "routes[0].openapi.spec", "invalid document"},
		{"dangling ref", strings.Replace(valid, "#/components/schemas/Transfer", "#/components/schemas/Nope", 1), "routes[0].openapi.spec", "Nope"},
		{"partial segment parameter", strings.Replace(valid, "/v1/transfers:\n", "/v1/transfers.{format}:\n    parameters: [{name: format, in: path, required: true, schema: {type: string}}]\n", 1), "routes[0].openapi.spec", "path parameters must be whole segments"},
		{"URL ref", strings.Replace(valid, "#/components/schemas/Transfer", "https://schemas.example.com/transfer.yaml", 1), "routes[0].openapi.spec", "only files next to the document may be referenced"},
		{"ref outside the directory", strings.Replace(valid, "#/components/schemas/Transfer", "../outside.yaml", 1), "routes[0].openapi.spec", "outside the document's directory"},
		{"on the upstream", "openapi: [", "upstreams[0].openapi.spec", "bad.yaml"},
	}
	_ = outside
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := sub + "/missing.yaml"
			if tc.content != "" {
				path = writeFile(t, sub, "bad.yaml", tc.content)
			}
			yaml := gatewayConfig(env, up.url, `  - name: r
    prefix: /
    upstream: api
    auth: none
    openapi: {spec: `+path+`}
`)
			if strings.HasPrefix(tc.where, "upstreams") {
				yaml = strings.Replace(strings.Replace(yaml, "    openapi: {spec: "+path+"}\n", "", 1),
					`    targets: ["`+up.url+`"]`, `    targets: ["`+up.url+`"]`+"\n    openapi: {spec: "+path+"}", 1)
			}
			err := check(t, yaml)
			if err == nil || !strings.Contains(err.Error(), tc.where+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %s: ...%s...", err, tc.where, tc.want)
			}
		})
	}
}

// A reload reads the document again: a changed contract applies to the
// next request, and a broken one is refused while the running one keeps
// serving.
func TestReloadReadsTheDocumentAgain(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	up := newUpstream(t)
	spec := writeFile(t, env.Dir, "transfers.yaml", fmt.Sprintf(transfersSpec, "3.0.3"))
	cfgFile := writeFile(t, env.Dir, "portcullis.yaml", gatewayConfig(env, up.url, `  - name: transfers
    prefix: /v1
    upstream: api
    auth: none
    openapi: {spec: `+spec+`}
`))
	g := startFile(t, cfgFile)
	c := clients(env)["HTTP/2"]
	usd := strings.Replace(validBody, "EUR", "USD", 1)
	post := func() int {
		return send(t, c, "HTTP/2", "POST", g.url+"/v1/transfers", map[string]string{"Content-Type": "application/json"}, usd).status
	}
	if got := post(); got != 201 {
		t.Fatalf("before: %d", got)
	}
	writeFile(t, env.Dir, "transfers.yaml", strings.Replace(fmt.Sprintf(transfersSpec, "3.0.3"), "enum: [EUR, USD]", "enum: [EUR]", 1))
	if err := g.srv.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if got := post(); got != 400 {
		t.Fatalf("after the change: %d", got)
	}
	writeFile(t, env.Dir, "transfers.yaml", "openapi: [")
	if err := g.srv.ReloadFile(); err == nil || !strings.Contains(err.Error(), "routes[0].openapi.spec: ") {
		t.Fatalf("broken document reloaded: %v", err)
	}
	if got := post(); got != 400 {
		t.Fatalf("after a failed reload: %d", got)
	}
}

// With reload.watch, a change to the document, or to a file its $refs
// name, reloads the gateway by itself, as a change to the configuration
// file does: a reload reads them all again, so the watch follows them all.
func TestWatchedReloadFollowsTheDocument(t *testing.T) {
	for _, tc := range []struct{ name, file, edited string }{
		{"the document", "transfers.yaml", ""},
		{"a file its $ref names", "currency.yaml", "type: string\nenum: [EUR]\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := gatewaytest.NewEnv(t)
			up := newUpstream(t)
			spec := strings.Replace(fmt.Sprintf(transfersSpec, "3.0.3"), "currency: {type: string, enum: [EUR, USD]}", `currency: {$ref: "currency.yaml"}`, 1)
			writeFile(t, env.Dir, "currency.yaml", "type: string\nenum: [EUR, USD]\n")
			specFile := writeFile(t, env.Dir, "transfers.yaml", spec)
			cfgFile := writeFile(t, env.Dir, "portcullis.yaml", gatewayConfig(env, up.url, `  - name: transfers
    prefix: /v1
    upstream: api
    auth: none
    openapi: {spec: `+specFile+`}
reload: {watch: true, interval: 100ms}
`))
			g := startFile(t, cfgFile)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- g.srv.Run(ctx, make(chan os.Signal)) }()
			defer func() { cancel(); <-done }()

			c := clients(env)["HTTP/2"]
			usd := strings.Replace(validBody, "EUR", "USD", 1)
			post := func() int {
				return send(t, c, "HTTP/2", "POST", g.url+"/v1/transfers", map[string]string{"Content-Type": "application/json"}, usd).status
			}
			if got := post(); got != 201 {
				t.Fatalf("before: %d", got)
			}
			edited := tc.edited
			if edited == "" {
				edited = strings.Replace(spec, `{$ref: "currency.yaml"}`, "{type: string, enum: [EUR]}", 1)
			}
			writeFile(t, env.Dir, tc.file, edited)
			got := 0
			for i := 0; i < 250 && got != 400; i++ {
				time.Sleep(20 * time.Millisecond)
				got = post()
			}
			if got != 400 {
				t.Fatalf("after editing %s (config untouched, no signal): %d, want 400", tc.file, got)
			}
		})
	}
}
