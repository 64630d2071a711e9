package config

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func noEnv(string) (string, bool) { return "", false }

// TestGoldenErrors checks that a broken config produces exactly the
// expected list of messages, in order.
func TestGoldenErrors(t *testing.T) {
	for _, name := range []string{"broken", "unknown-keys", "types"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(data, noEnv)
			if err == nil {
				t.Fatal("Parse succeeded; want errors")
			}
			got := err.Error() + "\n"
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				_ = os.WriteFile(golden, []byte(got), 0o644)
			}
			want, _ := os.ReadFile(golden)
			if got != string(want) {
				t.Errorf("errors differ\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}

const minimal = `
listeners:
  - address: "127.0.0.1:8443"
    tls:
      cert_file: c.crt
      key_file: c.key
upstreams:
  - name: up
    targets: ["http://127.0.0.1:9000"]
routes:
  - name: r
    prefix: /
    upstream: up
    auth: none
`

func TestDefaults(t *testing.T) {
	cfg, err := Parse([]byte(minimal), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Listeners[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"listener name", l.Name, "listener0"},
		{"min tls", l.TLS.MinVersion, "1.2"},
		{"client auth", l.TLS.ClientAuth, "none"},
		{"hsts", l.HSTS.MaxAge.D(), 365 * 24 * time.Hour},
		{"hsts subdomains", *l.HSTS.IncludeSubdomains, true},
		{"read header timeout", l.Limits.ReadHeaderTimeout.D(), 5 * time.Second},
		{"max header bytes", l.Limits.MaxHeaderBytes, ByteSize(32 << 10)},
		{"max conns", l.Limits.MaxConnections, 10000},
		{"ops", cfg.Ops.Address, "127.0.0.1:9090"},
		{"client ip header", cfg.ClientIPHeader, "x-forwarded-for"},
		{"retries", *cfg.Upstreams[0].Retries, 1},
		{"body", *cfg.Routes[0].MaxBodyBytes, ByteSize(1 << 20)},
		{"route timeout", cfg.Routes[0].Timeout.D(), time.Minute},
		{"access log on", *cfg.Logging.Access.Enabled, true},
		{"drain", cfg.Shutdown.DrainTimeout.D(), 30 * time.Second},
		{"identity header", cfg.IdentityHeaders.ConsumerID, "X-Consumer-Id"},
		{"failure ratio", cfg.Upstreams[0].PassiveEjection.FailureRatio, 0.5},
		{"min requests", cfg.Upstreams[0].PassiveEjection.MinRequests, 20},
		{"window", cfg.Upstreams[0].PassiveEjection.Window.D(), 10 * time.Second},
		{"eject for", cfg.Upstreams[0].PassiveEjection.EjectFor.D(), 30 * time.Second},
		{"max ejection percent", cfg.Upstreams[0].PassiveEjection.MaxEjectionPercent, 50},
		{"websocket", cfg.Routes[0].WebSocket, false},
		{"no tunnel limits without websocket", cfg.Routes[0].WebSocketIdleTimeout, Duration(0)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestEnvExpansion(t *testing.T) {
	env := map[string]string{"CERT": "/etc/tls/c.crt", "PORT": "8443", "EMPTY": "", "NUL": "null"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name, doc, wantErr string
		check              func(*Config) string
	}{
		{
			name: "string and int",
			doc:  strings.Replace(strings.Replace(minimal, "c.crt", "${CERT}", 1), "8443", "${PORT}", 1),
			check: func(c *Config) string {
				if c.Listeners[0].TLS.CertFile != "/etc/tls/c.crt" || c.Listeners[0].Address != "127.0.0.1:8443" {
					return "not expanded"
				}
				return ""
			},
		},
		{
			name: "null-looking value stays a string",
			doc:  strings.Replace(minimal, "c.key", "${NUL}", 1),
			check: func(c *Config) string {
				if c.Listeners[0].TLS.KeyFile != "null" {
					return "got " + c.Listeners[0].TLS.KeyFile
				}
				return ""
			},
		},
		{
			name:    "missing variable named, value never shown",
			doc:     strings.Replace(minimal, "c.key", "${SECRET_KEY_FILE}", 1),
			wantErr: `listeners[0].tls.key_file: environment variable "SECRET_KEY_FILE" is not set`,
		},
		{
			name:    "expanded value not echoed in type errors",
			doc:     strings.Replace(minimal, "    auth: none", "    auth: none\n    max_body_bytes: ${CERT}", 1),
			wantErr: "routes[0].max_body_bytes: invalid value (from an environment variable; not shown)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.doc), lookup)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "/etc/tls") {
					t.Fatal("error echoes an environment value")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(cfg); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestParseTopLevel(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"empty", "", "config is empty"},
		{"list", "- a\n", "config must be a mapping at the top level"},
		{"syntax", "listeners: [\n", "yaml: line 1: did not find expected node content"},
		{"two docs", "a: 1\n---\nb: 2\n", "config must be one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), noEnv)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestUnits(t *testing.T) {
	sizes := map[string]ByteSize{"0": 0, "1024": 1024, "1KiB": 1024, "1MiB": 1 << 20, "2 MB": 2e6, "10B": 10}
	for in, want := range sizes {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "1XB", "1.5MiB", "99999999999999GiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) succeeded", bad)
		}
	}
	durs := map[string]time.Duration{"30s": 30 * time.Second, "7d": 7 * 24 * time.Hour, "250ms": 250 * time.Millisecond}
	for in, want := range durs {
		if got, err := ParseDuration(in); err != nil || got.D() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "5", "-1s", "1y", "99999999d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

// FuzzParse feeds arbitrary documents to the loader: it must never panic and
// must either return a config that passes Validate or an Errors.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	for _, name := range []string{"broken", "unknown-keys", "types"} {
		if b, err := os.ReadFile(filepath.Join("testdata", name+".yaml")); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("listeners: ${X}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, func(string) (string, bool) { return "v", true })
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T, want Errors", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config fails Validate: %v", err)
		}
	})
}

func TestUpstreamAndTunnelSettings(t *testing.T) {
	upstream := func(extra string) string {
		return strings.Replace(minimal, `    targets: ["http://127.0.0.1:9000"]`, `    targets: ["http://127.0.0.1:9000"]`+extra, 1)
	}
	route := func(extra string) string {
		return strings.Replace(minimal, "    auth: none", "    auth: none"+extra, 1)
	}
	tests := []struct {
		name, doc, wantErr string
		check              func(*Config) string
	}{
		{name: "removed consecutive_failures names its replacement",
			doc:     upstream("\n    passive_ejection:\n      consecutive_failures: 3"),
			wantErr: "upstreams[0].passive_ejection.consecutive_failures: was removed: a target is now ejected when failure_ratio of at least min_requests requests in one window fail; set those instead"},
		{name: "outlier detection settings",
			doc: upstream("\n    passive_ejection:\n      failure_ratio: 0.25\n      min_requests: 50\n      window: 30s\n      eject_for: 1m\n      max_ejection_percent: 34"),
			check: func(c *Config) string {
				if pe := c.Upstreams[0].PassiveEjection; pe != (PassiveEjection{FailureRatio: 0.25, MinRequests: 50,
					Window: Duration(30 * time.Second), EjectFor: Duration(time.Minute), MaxEjectionPercent: 34}) {
					return fmt.Sprintf("got %+v", pe)
				}
				return ""
			}},
		{name: "invalid outlier detection settings",
			doc: upstream("\n    passive_ejection:\n      failure_ratio: 1.5\n      min_requests: 1\n      window: 50ms\n      eject_for: 10ms\n      max_ejection_percent: 101"),
			wantErr: "upstreams[0].passive_ejection.failure_ratio: must be above 0 and at most 1\n" +
				"upstreams[0].passive_ejection.min_requests: must be at least 2: a single failure never ejects a target\n" +
				"upstreams[0].passive_ejection.window: must be between 100ms and 10m\n" +
				"upstreams[0].passive_ejection.eject_for: must be at least 100ms\n" +
				"upstreams[0].passive_ejection.max_ejection_percent: must be between 1 and 100"},
		{name: "websocket gets tunnel limits by default",
			doc: route("\n    websocket: true"),
			check: func(c *Config) string {
				if r := c.Routes[0]; r.WebSocketIdleTimeout.D() != 5*time.Minute || r.WebSocketMaxLifetime.D() != time.Hour {
					return fmt.Sprintf("idle %v, lifetime %v", r.WebSocketIdleTimeout, r.WebSocketMaxLifetime)
				}
				return ""
			}},
		{name: "tunnel limits without websocket are refused",
			doc: route("\n    websocket_idle_timeout: 1m\n    websocket_max_lifetime: 2h"),
			wantErr: "routes[0].websocket_idle_timeout: needs websocket: true\n" +
				"routes[0].websocket_max_lifetime: needs websocket: true"},
		{name: "tunnel limits out of range",
			doc: route("\n    websocket: true\n    websocket_idle_timeout: 10ms\n    websocket_max_lifetime: 2d"),
			wantErr: "routes[0].websocket_idle_timeout: must be at least 100ms\n" +
				"routes[0].websocket_max_lifetime: must be between 100ms and 24h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.doc), noEnv)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(cfg); msg != "" {
				t.Error(msg)
			}
		})
	}
}
