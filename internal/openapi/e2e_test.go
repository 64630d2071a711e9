package openapi_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/testissuer"
)

// transfersSpec is a contract with every kind of parameter and a JSON
// body; %s is the OpenAPI version.
const transfersSpec = `openapi: %s
info: {title: transfers, version: "1"}
servers:
  - url: https://api.example.com/base
paths:
  /v1/transfers/{transfer-id}:
    parameters:
      - name: transfer-id
        in: path
        required: true
        schema: {type: string, format: uuid}
    get:
      parameters:
        - name: expand
          in: query
          schema: {type: string, enum: [legs, fees]}
        - name: limit
          in: query
          schema: {type: integer, minimum: 1, maximum: 100}
        - name: X-Trace
          in: header
          required: true
          schema: {type: string, pattern: "^[a-f0-9]{8}$"}
        - name: session
          in: cookie
          schema: {type: string, maxLength: 8}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Transfer"}
  /v1/transfers:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Transfer"}
          application/merge-patch+json:
            schema: {$ref: "#/components/schemas/Transfer"}
      responses:
        "201":
          description: created
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Transfer"}
components:
  schemas:
    Transfer:
      type: object
      additionalProperties: false
      required: [amount, currency, execute_at]
      properties:
        id: {type: string, format: uuid, readOnly: true}
        amount: {type: number, minimum: 0.01, maximum: 10000}
        currency: {type: string, enum: [EUR, USD]}
        reference: {type: string, pattern: "^[A-Za-z0-9 ]{1,35}$"}
        execute_at: {type: string, format: date-time}
        pin: {type: string, writeOnly: true}
`

const (
	transferID = "0b9d6a9e-3f1c-4d2a-9c4e-2f0a7b6c5d4e"
	validBody  = `{"amount":10.5,"currency":"EUR","reference":"Invoice 42","execute_at":"2026-01-02T03:04:05Z"}`
	detail400  = "The request does not match the API's contract."
)

// Every kind of request check, over HTTP/1.1 and HTTP/2, for a 3.0 and a
// 3.1 document: what the client gets (status, exact body), and that a
// refused request never reaches the upstream. The document's servers name
// another host and base path: they are never matched.
func TestRequestValidation(t *testing.T) {
	for _, version := range []string{"3.0.3", "3.1.0"} {
		t.Run(version, func(t *testing.T) {
			env := gatewaytest.NewEnv(t)
			up := newUpstream(t)
			spec := writeFile(t, env.Dir, "transfers.yaml", fmt.Sprintf(transfersSpec, version))
			g := start(t, gatewayConfig(env, up.url, `  - name: transfers
    prefix: /
    upstream: api
    auth: none
    openapi:
      spec: `+spec+`
`))
			get := map[string]string{"X-Trace": "deadbeef"}
			post := map[string]string{"Content-Type": "application/json"}
			with := func(base map[string]string, k, v string) map[string]string {
				m := map[string]string{}
				for a, b := range base {
					m[a] = b
				}
				if v == "" {
					delete(m, k)
				} else {
					m[k] = v
				}
				return m
			}
			body := func(field, value string) string {
				return strings.Replace(validBody, `"`+field+`":`, `"`+field+`":`+value+`,"x-was-`+field+`":`, 1)
			}
			tests := []struct {
				name, method, path string
				headers            map[string]string
				body               string
				status             int
				errs               string // the exact errors array of a 400
			}{
				{name: "valid GET", method: "GET", path: "/v1/transfers/" + transferID + "?expand=legs&limit=5", headers: with(get, "Cookie", "session=abc"), status: 200},
				{name: "valid POST", method: "POST", path: "/v1/transfers", headers: post, body: validBody, status: 201},
				{name: "valid POST, +json type", method: "POST", path: "/v1/transfers", headers: with(post, "Content-Type", "application/merge-patch+json"), body: validBody, status: 201},
				{name: "path parameter format", method: "GET", path: "/v1/transfers/not-a-uuid", headers: get, status: 400,
					errs: `[{"parameter":"transfer-id","in":"path","reason":"is not a valid uuid"}]`},
				{name: "query enum", method: "GET", path: "/v1/transfers/" + transferID + "?expand=secrets", headers: get, status: 400,
					errs: `[{"parameter":"expand","in":"query","reason":"is not one of the allowed values"}]`},
				{name: "query minimum", method: "GET", path: "/v1/transfers/" + transferID + "?limit=0", headers: get, status: 400,
					errs: `[{"parameter":"limit","in":"query","reason":"is below the minimum"}]`},
				{name: "query maximum", method: "GET", path: "/v1/transfers/" + transferID + "?limit=101", headers: get, status: 400,
					errs: `[{"parameter":"limit","in":"query","reason":"is above the maximum"}]`},
				{name: "query type", method: "GET", path: "/v1/transfers/" + transferID + "?limit=ten", headers: get, status: 400,
					errs: `[{"parameter":"limit","in":"query","reason":"is malformed"}]`},
				{name: "query repeated", method: "GET", path: "/v1/transfers/" + transferID + "?limit=1&limit=100000", headers: get, status: 400,
					errs: `[{"parameter":"limit","in":"query","reason":"must appear once"}]`},
				{name: "query malformed", method: "GET", path: "/v1/transfers/" + transferID + "?limit=5;expand=x", headers: get, status: 400,
					errs: `[{"in":"query","reason":"the query string is malformed"}]`},
				{name: "header missing", method: "GET", path: "/v1/transfers/" + transferID, headers: nil, status: 400,
					errs: `[{"parameter":"X-Trace","in":"header","reason":"is required"}]`},
				{name: "header pattern", method: "GET", path: "/v1/transfers/" + transferID, headers: with(get, "X-Trace", "<script>"), status: 400,
					errs: `[{"parameter":"X-Trace","in":"header","reason":"does not match the pattern"}]`},
				{name: "header repeated", method: "GET", path: "/v1/transfers/" + transferID, headers: with(get, "X-Trace", "deadbeef\nbadc0ffe"), status: 400,
					errs: `[{"parameter":"X-Trace","in":"header","reason":"must appear once"}]`},
				{name: "cookie length", method: "GET", path: "/v1/transfers/" + transferID, headers: with(get, "Cookie", "session=4111111111111111"), status: 400,
					errs: `[{"parameter":"session","in":"cookie","reason":"is longer than the maximum length"}]`},
				{name: "body maximum", method: "POST", path: "/v1/transfers", headers: post, body: strings.Replace(validBody, "10.5", "10000.01", 1), status: 400,
					errs: `[{"pointer":"/amount","reason":"is above the maximum"}]`},
				{name: "body minimum", method: "POST", path: "/v1/transfers", headers: post, body: strings.Replace(validBody, "10.5", "0", 1), status: 400,
					errs: `[{"pointer":"/amount","reason":"is below the minimum"}]`},
				{name: "body type", method: "POST", path: "/v1/transfers", headers: post, body: strings.Replace(validBody, "10.5", `"10.5"`, 1), status: 400,
					errs: `[{"pointer":"/amount","reason":"must be of type number"}]`},
				{name: "body enum", method: "POST", path: "/v1/transfers", headers: post, body: strings.Replace(validBody, "EUR", "XAU", 1), status: 400,
					errs: `[{"pointer":"/currency","reason":"is not one of the allowed values"}]`},
				{name: "body pattern", method: "POST", path: "/v1/transfers", headers: post, body: strings.Replace(validBody, "Invoice 42", "<img src=x>", 1), status: 400,
					errs: `[{"pointer":"/reference","reason":"does not match the pattern"}]`},
				{name: "body date-time", method: "POST", path: "/v1/transfers", headers: post, body: strings.Replace(validBody, "2026-01-02T03:04:05Z", "2026-02-30T03:04:05Z", 1), status: 400,
					errs: `[{"pointer":"/execute_at","reason":"is not a valid date-time"}]`},
				{name: "body required", method: "POST", path: "/v1/transfers", headers: post, body: `{"amount":1,"execute_at":"2026-01-02T03:04:05Z"}`, status: 400,
					errs: `[{"pointer":"/currency","reason":"is required"}]`},
				{name: "additionalProperties false", method: "POST", path: "/v1/transfers", headers: post, body: body("amount", "10"), status: 400,
					errs: `[{"pointer":"/x-was-amount","reason":"is not allowed"}]`},
				{name: "readOnly refused", method: "POST", path: "/v1/transfers", headers: post, body: strings.Replace(validBody, "{", `{"id":"`+transferID+`",`, 1), status: 400,
					errs: `[{"pointer":"/id","reason":"is read-only and cannot be sent"}]`},
				{name: "several at once", method: "POST", path: "/v1/transfers?limit=1", headers: post, body: `{"amount":-1,"currency":"XAU","execute_at":"now","extra":true}`, status: 400,
					errs: `[{"pointer":"/amount","reason":"is below the minimum"},{"pointer":"/currency","reason":"is not one of the allowed values"},{"pointer":"/execute_at","reason":"is not a valid date-time"},{"pointer":"/extra","reason":"is not allowed"}]`},
				{name: "body missing", method: "POST", path: "/v1/transfers", headers: post, status: 400,
					errs: `[{"pointer":"","reason":"a request body is required"}]`},
				{name: "body where none is declared", method: "GET", path: "/v1/transfers/" + transferID, headers: with(get, "Content-Type", "application/json"), body: `{}`, status: 400,
					errs: `[{"pointer":"","reason":"the operation takes no request body"}]`},
				{name: "JSON as text/plain", method: "POST", path: "/v1/transfers", headers: with(post, "Content-Type", "text/plain"), body: validBody, status: 415},
				{name: "no Content-Type", method: "POST", path: "/v1/transfers", headers: nil, body: validBody, status: 415},
				{name: "undeclared method", method: "DELETE", path: "/v1/transfers", status: 404},
				{name: "undeclared path", method: "GET", path: "/v1/internal/debug", headers: get, status: 404},
				{name: "servers base path is not matched", method: "GET", path: "/base/v1/transfers/" + transferID, headers: get, status: 404},
			}
			for proto, c := range clients(env) {
				t.Run(proto, func(t *testing.T) {
					for _, tc := range tests {
						t.Run(tc.name, func(t *testing.T) {
							before := up.hits.Load()
							got := send(t, c, proto, tc.method, g.url+tc.path, tc.headers, tc.body)
							if got.status != tc.status {
								t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.body)
							}
							reached := up.hits.Load() > before
							if tc.status < 300 {
								if !reached || up.lastBody() != tc.body {
									t.Fatalf("upstream reached %v with %q", reached, up.lastBody())
								}
								return
							}
							if reached {
								t.Fatal("a refused request reached the upstream")
							}
							id := got.header.Get("X-Request-Id")
							var want string
							switch tc.status {
							case 400:
								want = problemBody("request-validation-failed", "Bad Request", 400, detail400, tc.errs, id)
							case 404:
								want = problemBody("not-found", "Not Found", 404, "No route matches this request.", "", id)
							case 415:
								want = problemBody("unsupported-media-type", "Unsupported Media Type", 415, "The request's Content-Type is not accepted here.", "", id)
							}
							if got.body != want || got.header.Get("Content-Type") != "application/problem+json" {
								t.Fatalf("body\n got %s\nwant %s", got.body, want)
							}
						})
					}
				})
			}
			if n := counter(t, g, "portcullis_validation_failures_total", map[string]string{"route": "transfers", "kind": "body"}); n != 2*12 {
				t.Errorf("body failures counted %v, want 24", n)
			}
			if n := counter(t, g, "portcullis_validation_failures_total", map[string]string{"route": "transfers", "kind": "unknown_operation"}); n != 2*3 {
				t.Errorf("unknown operations counted %v, want 6", n)
			}
		})
	}
}

// A path the document does not declare answers exactly like a path no
// route matches: the client cannot tell a shadow endpoint from nothing.
func TestUndeclaredOperationLooksLikeNoRoute(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	up := newUpstream(t)
	spec := writeFile(t, env.Dir, "transfers.yaml", fmt.Sprintf(transfersSpec, "3.0.3"))
	g := start(t, gatewayConfig(env, up.url, `  - name: transfers
    prefix: /v1
    upstream: api
    auth: none
    openapi: {spec: `+spec+`}
  - name: pass
    prefix: /v2
    upstream: api
    auth: none
    openapi: {spec: `+spec+`, base_path: /v2, unknown_operations: pass}
`))
	for proto, c := range clients(env) {
		t.Run(proto, func(t *testing.T) {
			shadow := send(t, c, proto, "GET", g.url+"/v1/admin/export", nil, "")
			none := send(t, c, proto, "GET", g.url+"/nowhere", nil, "")
			if shadow.status != 404 || none.status != 404 ||
				shadow.body != strings.Replace(none.body, none.header.Get("X-Request-Id"), shadow.header.Get("X-Request-Id"), 1) {
				t.Fatalf("shadow %d %s\nno route %d %s", shadow.status, shadow.body, none.status, none.body)
			}
			// unknown_operations: pass forwards it; base_path maps /v2.
			before := up.hits.Load()
			if got := send(t, c, proto, "GET", g.url+"/v2/admin/export", nil, ""); got.status != 200 || up.hits.Load() != before+1 {
				t.Fatalf("pass: %d", got.status)
			}
			if got := send(t, c, proto, "GET", g.url+"/v2/v1/transfers/nope", map[string]string{"X-Trace": "deadbeef"}, ""); got.status != 400 {
				t.Fatalf("base_path: %d %s", got.status, got.body)
			}
		})
	}
}

// Authorisation runs first: a caller without the scope gets 403 whatever
// its body; with the scope, the body is checked.
func TestAuthorisationBeforeValidation(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	up := newUpstream(t)
	spec := writeFile(t, env.Dir, "transfers.yaml", fmt.Sprintf(transfersSpec, "3.0.3"))
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = is.Close() })
	jwks := writeFile(t, env.Dir, "jwks.json", string(is.JWKS()))
	token := func(scope string) string {
		c := is.Claims("transfers", "client", scope, time.Now(), time.Hour)
		c["iss"] = "https://issuer.test"
		return "Bearer " + is.Sign(c)
	}
	g := start(t, gatewayConfig(env, up.url, `  - name: transfers
    prefix: /v1
    upstream: api
    auth:
      authenticators: [jwt]
      require: {scopes: {all_of: [payments:write]}}
    openapi: {spec: `+spec+`}
authenticators:
  - name: jwt
    jwt:
      issuers:
        - issuer: https://issuer.test
          audiences: [transfers]
          jwks_file: `+jwks+`
`))
	tests := []struct {
		name, scope, body string
		status            int
		slug              string
	}{
		{"read-only, invalid body", "accounts:read", `{"amount":"x"}`, 403, "insufficient-scope"},
		{"read-only, valid body", "accounts:read", validBody, 403, "insufficient-scope"},
		{"writer, invalid body", "payments:write", `{"amount":"x"}`, 400, "request-validation-failed"},
		{"writer, valid body", "payments:write", validBody, 201, ""},
	}
	for proto, c := range clients(env) {
		t.Run(proto, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					got := send(t, c, proto, "POST", g.url+"/v1/transfers",
						map[string]string{"Authorization": token(tc.scope), "Content-Type": "application/json"}, tc.body)
					if got.status != tc.status || !strings.Contains(got.body, tc.slug) {
						t.Fatalf("%d %s", got.status, got.body)
					}
				})
			}
		})
	}
}

// Documents are shared by every request of their routes: concurrent
// checks of both versions agree with sequential ones (run with -race).
func TestConcurrentValidation(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	up := newUpstream(t)
	s30 := writeFile(t, env.Dir, "t30.yaml", fmt.Sprintf(transfersSpec, "3.0.3"))
	s31 := writeFile(t, env.Dir, "t31.yaml", fmt.Sprintf(transfersSpec, "3.1.0"))
	g := start(t, gatewayConfig(env, up.url, `  - name: v30
    prefix: /30
    upstream: api
    auth: none
    openapi: {spec: `+s30+`, base_path: /30, responses: {mode: enforce}}
  - name: v31
    prefix: /31
    upstream: api
    auth: none
    openapi: {spec: `+s31+`, base_path: /31, responses: {mode: enforce}}
`))
	c := clients(env)["HTTP/2"]
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				v := []string{"30", "31"}[(i+j)%2]
				body, want := validBody, 201
				if j%3 == 0 {
					body, want = strings.Replace(validBody, "EUR", "XAU", 1), 400
				}
				got, err := do(c, "HTTP/2", "POST", g.url+"/"+v+"/v1/transfers", map[string]string{"Content-Type": "application/json"}, body)
				if err != nil || got.status != want {
					errs <- fmt.Sprintf("%s: %v %d, want %d: %s", v, err, got.status, want, got.body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
