package config

import (
	"strings"
	"testing"
)

func TestHeadersConfig(t *testing.T) {
	base := `
listeners: [{address: "127.0.0.1:8443", insecure: true}]
upstreams: [{name: u, targets: ["http://127.0.0.1:9000"]}]
`
	route := "routes: [{name: r, path: /, upstream: u, auth: none}]\n"
	tests := []struct {
		name, doc string
		want      []string // every error, in order; nil: valid
	}{
		{"defaults", route, nil},
		{"valid", route + `headers:
  request_strip: [X-Internal-Token, X-Debug-*]
  response_strip: [X-Cache-Key]
  response_keep: [via, X-Backend-*]
  max_response_headers: 50
  max_response_header_bytes: 16KiB
  max_informational_responses: 0
`, nil},
		{"route options", "routes: [{name: r, path: /, upstream: u, auth: none, allow_underscore_headers: true, allow_trailers: true, upstream_errors: mask}]\n", nil},
		{"invalid", "routes: [{name: r, path: /, upstream: u, auth: none, upstream_errors: hide}]\n" + `headers:
  request_strip: ["*", "X-*-Id", "bad name"]
  response_strip: [""]
  response_keep: [Server-Timing]
  max_response_headers: 0
  max_response_header_bytes: 2MiB
  max_informational_responses: -1
`, []string{
			"headers.request_strip[0]: invalid header pattern \"*\" (a name, or a prefix ending in *)",
			"headers.request_strip[1]: invalid header pattern \"X-*-Id\" (a name, or a prefix ending in *)",
			"headers.request_strip[2]: invalid header name \"bad name\"",
			"headers.response_strip[0]: must not be empty",
			"headers.response_keep[0]: \"Server-Timing\" is not in the default response strip list",
			"headers.max_response_headers: must be between 1 and 10000",
			"headers.max_response_header_bytes: must be between 1KiB and 1MiB",
			"headers.max_informational_responses: must be between 0 and 100",
			"routes[0].upstream_errors: must be pass or mask; got \"hide\"",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(base+tc.doc), noEnv)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if tc.name == "defaults" {
				h := cfg.Headers
				if *h.MaxResponseHeaders != 100 || *h.MaxResponseHeaderBytes != 64<<10 || *h.MaxInformationalResponses != 5 {
					t.Fatalf("defaults: %d %d %d", *h.MaxResponseHeaders, *h.MaxResponseHeaderBytes, *h.MaxInformationalResponses)
				}
			}
			if tc.name == "valid" && *cfg.Headers.MaxInformationalResponses != 0 {
				t.Fatal("an explicit 0 was replaced")
			}
		})
	}
}
