package config

import (
	"strings"
	"testing"
)

func TestTracingConfig(t *testing.T) {
	base := `
listeners: [{address: "127.0.0.1:8443", insecure: true}]
upstreams: [{name: u, targets: ["http://127.0.0.1:9000"]}]
routes: [{name: r, path: /, upstream: u, auth: none}]
`
	tests := []struct {
		name, doc string
		want      []string // every error, in order; nil: valid
	}{
		{"off by default", "", nil},
		{"valid", "tracing: {enabled: true, endpoint: \"https://otel.internal:4318/v1/traces\", sample_ratio: 0.25}", nil},
		{"needs an endpoint", "tracing: {enabled: true}", []string{"tracing.endpoint: is required when tracing is enabled"}},
		{"plain http needs insecure", "tracing: {enabled: true, endpoint: \"http://otel:4318/v1/traces\"}",
			[]string{"tracing.endpoint: is plain http: use https, or set tracing.insecure: true"}},
		{"no credentials in the URL", "tracing: {enabled: true, endpoint: \"https://u:p@otel/v1/traces\"}",
			[]string{"tracing.endpoint: must not contain credentials (use tracing.headers)"}},
		{"ranges", "tracing: {enabled: true, endpoint: \"grpc://otel:4317\", sample_ratio: 1.5, export_timeout: 1ms, headers: {\"bad header\": x}}", []string{
			"tracing.endpoint: must be an http(s) URL",
			"tracing.sample_ratio: must be between 0 and 1",
			"tracing.export_timeout: must be between 100ms and 1m",
			"tracing.headers.bad header: invalid header name \"bad header\"",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(base+tc.doc), func(string) (string, bool) { return "", false })
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if err == nil && (cfg.Tracing.ServiceName != "portcullis" || *cfg.Tracing.SampleRatio <= 0) {
				t.Fatalf("defaults: %+v", cfg.Tracing)
			}
		})
	}
}
