package jsonlimits_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/validate"
)

const (
	invalidJSON = "The request body is not valid JSON."
	overLimit   = "The request body exceeds a structural limit of this route."
)

// The attack table of structural checks, through the real TLS gateway
// over HTTP/1.1 and HTTP/2, on routes with the default limits: each body
// is one a lenient parser (encoding/json among them) would accept or
// misread, and none reaches the upstream.
func TestStructuralAttacks(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	var hits atomic.Int64
	var mu sync.Mutex
	var seen string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hits.Add(1)
		mu.Lock()
		seen = string(b)
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	g := env.Start(t, strings.Replace(env.Base("none"), env.Upstream, up.URL, 1)+`routes:
  - name: default
    prefix: /default
    upstream: echo
    auth: none
  - name: typed
    prefix: /typed
    upstream: echo
    auth: none
    content_types: [application/json, application/merge-patch+json]
  - name: off
    prefix: /off
    upstream: echo
    auth: none
    json_limits: {enabled: false}
`, gateway.Deps{})
	deep := strings.Repeat("[", 33) + strings.Repeat("]", 33)
	many := func(n int, f func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = f(i)
		}
		return strings.Join(parts, ",")
	}
	json := "application/json"
	tests := []struct {
		name, path, contentType, body string
		status                        int
		slug, detail, errs            string
	}{
		{name: "valid", path: "/default", contentType: json, body: `{"amount":"10.00","items":[1,2,{"a":null}]}`, status: 200},
		{name: "deep nesting", path: "/default", contentType: json, body: deep, status: 400, slug: "json-limit-exceeded", detail: overLimit,
			errs: `[{"pointer":"` + strings.Repeat("/0", 32) + `","reason":"nested deeper than 32 levels"}]`},
		{name: "huge array", path: "/default", contentType: json, body: `{"a":[` + many(10001, func(int) string { return "0" }) + `]}`, status: 400,
			slug: "json-limit-exceeded", detail: overLimit, errs: `[{"pointer":"/a","reason":"array has more than 10000 elements"}]`},
		{name: "many keys", path: "/default", contentType: json, body: `{` + many(1001, func(i int) string { return `"k` + strconv.Itoa(i) + `":0` }) + `}`, status: 400,
			slug: "json-limit-exceeded", detail: overLimit, errs: `[{"pointer":"","reason":"object has more than 1000 keys"}]`},
		{name: "long string", path: "/default", contentType: json, body: `{"note":"` + strings.Repeat("x", 64<<10+1) + `"}`, status: 400,
			slug: "json-limit-exceeded", detail: overLimit, errs: `[{"pointer":"/note","reason":"string longer than 65536 bytes"}]`},
		{name: "long number", path: "/default", contentType: json, body: `{"amount":1` + strings.Repeat("0", 64) + `}`, status: 400,
			slug: "json-limit-exceeded", detail: overLimit, errs: `[{"pointer":"/amount","reason":"number longer than 64 characters"}]`},
		{name: "number beyond float64", path: "/default", contentType: json, body: `{"amount":1e400}`, status: 400,
			slug: "invalid-json", detail: invalidJSON, errs: `[{"pointer":"/amount","reason":"number out of range"}]`},
		{name: "duplicate key", path: "/default", contentType: json, body: `{"amount":"1.00","amount":"1000000.00"}`, status: 400,
			slug: "invalid-json", detail: invalidJSON, errs: `[{"pointer":"/amount","reason":"duplicate object key"}]`},
		{name: "duplicate key deep", path: "/default", contentType: json, body: `{"a":[{"b":{"role":"user","role":"admin"}}]}`, status: 400,
			slug: "invalid-json", detail: invalidJSON, errs: `[{"pointer":"/a/0/b/role","reason":"duplicate object key"}]`},
		{name: "lone surrogate", path: "/default", contentType: json, body: `{"name":"\ud800"}`, status: 400,
			slug: "invalid-json", detail: invalidJSON, errs: `[{"pointer":"/name","reason":"unpaired UTF-16 surrogate escape"}]`},
		{name: "invalid UTF-8", path: "/default", contentType: json, body: "{\"name\":\"\xc0\xae\"}", status: 400,
			slug: "invalid-json", detail: invalidJSON, errs: `[{"pointer":"/name","reason":"invalid UTF-8"}]`},
		{name: "second value", path: "/default", contentType: json, body: `{"amount":"1.00"}{"amount":"9.00"}`, status: 400,
			slug: "invalid-json", detail: invalidJSON, errs: `[{"pointer":"","reason":"data after the JSON value"}]`},
		{name: "malformed", path: "/default", contentType: json, body: `{"amount":}`, status: 400,
			slug: "invalid-json", detail: invalidJSON, errs: `[{"pointer":"/amount","reason":"malformed JSON"}]`},
		{name: "JSON without Content-Type is checked", path: "/default", contentType: "", body: `{"a":1,"a":2}`, status: 400,
			slug: "invalid-json", detail: invalidJSON, errs: `[{"pointer":"/a","reason":"duplicate object key"}]`},
		{name: "+json type is checked", path: "/default", contentType: "application/vnd.api+json", body: `{"a":1,"a":2}`, status: 400,
			slug: "invalid-json", detail: invalidJSON, errs: `[{"pointer":"/a","reason":"duplicate object key"}]`},
		{name: "JSON in UTF-16", path: "/default", contentType: "application/json; charset=utf-16", body: `{"a":1}`, status: 415,
			slug: "unsupported-media-type"},
		{name: "JSON as text/plain, route declares JSON", path: "/typed", contentType: "text/plain", body: `{"a":1,"a":2}`, status: 415, slug: "unsupported-media-type"},
		{name: "no Content-Type, route declares JSON", path: "/typed", contentType: "", body: `{"a":1}`, status: 415, slug: "unsupported-media-type"},
		{name: "two Content-Types", path: "/typed", contentType: "application/json\ntext/plain", body: `{"a":1}`, status: 415, slug: "unsupported-media-type"},
		{name: "malformed Content-Type", path: "/default", contentType: "application/json;;", body: `{"a":1}`, status: 415, slug: "unsupported-media-type"},
		{name: "declared type is checked", path: "/typed", contentType: "application/merge-patch+json", body: `{"a":1,"a":2}`, status: 400,
			slug: "invalid-json", detail: invalidJSON, errs: `[{"pointer":"/a","reason":"duplicate object key"}]`},
		// What is not JSON is not parsed: a route that declares its
		// types closes this (the row above).
		{name: "text/plain on an undeclared route", path: "/default", contentType: "text/plain", body: `{"a":1,"a":2}`, status: 200},
		{name: "checks turned off", path: "/off", contentType: json, body: `{"a":1,"a":2}`, status: 200},
	}
	for proto, c := range clients(env) {
		t.Run(proto, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					req, _ := http.NewRequest("POST", g.URL+tc.path, strings.NewReader(tc.body))
					if tc.contentType != "" {
						req.Header["Content-Type"] = strings.Split(tc.contentType, "\n")
					}
					before := hits.Load()
					got := gatewaytest.Do(t, c, req)
					if got.Status != tc.status {
						t.Fatalf("status %d, want %d: %s", got.Status, tc.status, got.Body)
					}
					if tc.status == 200 {
						mu.Lock()
						defer mu.Unlock()
						if hits.Load() != before+1 || seen != tc.body {
							t.Fatalf("upstream saw %q", seen)
						}
						return
					}
					if hits.Load() != before {
						t.Fatal("a refused body reached the upstream")
					}
					id := got.Header.Get("X-Request-Id")
					want := `{"type":"https://portcullis.dev/problems/unsupported-media-type","title":"Unsupported Media Type","status":415,"detail":"The request's Content-Type is not accepted here.","request_id":"` + id + `"}` + "\n"
					if tc.status == 400 {
						want = `{"detail":"` + tc.detail + `","errors":` + tc.errs + `,"request_id":"` + id + `","status":400,"title":"Bad Request","type":"https://portcullis.dev/problems/` + tc.slug + `"}` + "\n"
					}
					if string(got.Body) != want || got.Header.Get("Content-Type") != "application/problem+json" {
						t.Fatalf("body\n got %s\nwant %s", got.Body, want)
					}
				})
			}
		})
	}
}

// Only the bodies that are checked are held in memory: with a body budget
// of 64 bytes, a text/plain upload still streams, while a JSON body that
// must be checked is refused rather than let through unchecked.
func TestOnlyCheckedBodiesAreBuffered(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	g := env.Start(t, env.Base("none")+`routes:
  - name: default
    prefix: /
    upstream: echo
    auth: none
`, gateway.Deps{Bodies: validate.NewBudget(64)})
	big := strings.Repeat("x", 4096)
	for proto, c := range clients(env) {
		t.Run(proto, func(t *testing.T) {
			for _, tc := range []struct {
				contentType, body string
				status            int
			}{
				{"text/plain", big, 200},
				{"application/octet-stream", big, 200},
				{"application/json", `{"a":"` + big + `"}`, 503},
				{"application/json", `{"a":1}`, 200},
			} {
				req, _ := http.NewRequest("POST", g.URL+"/upload", strings.NewReader(tc.body))
				req.Header.Set("Content-Type", tc.contentType)
				if got := gatewaytest.Do(t, c, req); got.Status != tc.status {
					t.Fatalf("%s: %d, want %d: %s", tc.contentType, got.Status, tc.status, got.Body)
				}
			}
		})
	}
}

func clients(env *gatewaytest.Env) map[string]*http.Client {
	h1 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: env.CA.Pool(), NextProtos: []string{"http/1.1"}}}
	h2 := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: env.CA.Pool()}, ForceAttemptHTTP2: true}
	return map[string]*http.Client{"HTTP/1.1": {Transport: h1, Timeout: 10 * time.Second}, "HTTP/2": {Transport: h2, Timeout: 10 * time.Second}}
}
