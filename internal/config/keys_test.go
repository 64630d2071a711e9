package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

const keysBase = `
listeners:
  - address: "127.0.0.1:8443"
    insecure: true
upstreams:
  - name: api
    targets: ["http://127.0.0.1:9000"]
routes:
  - name: r
    prefix: /
    upstream: api
    auth:
      authenticators: [keys]
authenticators:
  - name: keys
    api_key: {}
`

func parse(t *testing.T, extra string, env map[string]string) (*config.Config, error) {
	t.Helper()
	return config.Parse([]byte(keysBase+extra), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

func TestKeysDefaults(t *testing.T) {
	cfg, err := parse(t, "keys:\n  store:\n    path: /var/lib/portcullis/keys.db\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	k := cfg.Keys
	if k.Store.Driver != "sqlite" || k.Store.MaxConns != 10 || k.Store.Timeout.D() != 2*time.Second ||
		k.Environment != "live" || k.Pepper.Env != "PORTCULLIS_PEPPER" || k.MasterKey.Env != "PORTCULLIS_MASTER_KEY" ||
		k.RotationGrace.D() != 24*time.Hour || k.Cache.Size != 100000 || k.Cache.TTL.D() != time.Minute ||
		k.Cache.NegativeTTL.D() != 10*time.Second || k.Cache.StaleIfError.D() != 15*time.Minute ||
		k.Usage.FlushInterval.D() != 10*time.Second {
		t.Fatalf("defaults = %+v", k)
	}
	if a := cfg.Authenticators[0].APIKey; a.Header != "X-API-Key" || a.QueryParam != "" {
		t.Fatalf("api_key defaults = %+v", a)
	}
	if cfg.Admin.Enabled || cfg.Admin.Address != "127.0.0.1:9443" || cfg.Admin.TLS.MinVersion != "1.3" || cfg.Admin.MaxPageSize != 500 || *cfg.Admin.AuthFailureThreshold != 10 {
		t.Fatalf("admin defaults = %+v", cfg.Admin)
	}
}

func TestKeysValidation(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		env   map[string]string
		want  []string // every problem, in order
	}{
		{"api_key without a store", "", nil, []string{"keys.store.path: is required for the sqlite driver (e.g. /var/lib/portcullis/keys.db)"}},
		{"postgres without dsn", "keys:\n  store:\n    driver: postgres\n    path: x.db\n", nil, []string{
			"keys.store.dsn: is required for the postgres driver (write it as ${ENV})",
			"keys.store.path: is only used by the sqlite driver"}},
		{"everything wrong", `keys:
  store:
    driver: mysql
    max_conns: 5000
    timeout: 1ms
  environment: prod
  pepper:
    env: PEPPER
    file: /run/pepper
  master_key:
    env: "1BAD"
  rotation_grace: 31d
  cache:
    size: -1
    ttl: 2h
    negative_ttl: 2h
    stale_if_error: 25h
  usage:
    flush_interval: 2h
`, nil, []string{
			`keys.store.driver: must be sqlite or postgres, got "mysql"`,
			"keys.store.max_conns: must be between 1 and 1000",
			"keys.store.timeout: must be between 100ms and 1m",
			`keys.environment: must be live or test, got "prod"`,
			"keys.pepper: set env or file, not both",
			`keys.master_key.env: must be an environment variable name, got "1BAD"`,
			"keys.rotation_grace: must be at most 30d",
			"keys.cache.size: must be between 1 and 10000000",
			"keys.cache.ttl: must be between 1s and 1h",
			"keys.cache.negative_ttl: must be between 1s and 1h",
			"keys.cache.stale_if_error: must be at most 24h",
			"keys.usage.flush_interval: must be between 1s and 1h",
		}},
		{"admin problems", `keys:
  store:
    path: k.db
admin:
  enabled: true
  address: "127.0.0.1:8443"
  tls:
    min_version: "1.1"
  client_certs:
    - role: root
    - common_name: a
      uri: spiffe://x
      role: admin
  max_page_size: -1
  auth_failure_threshold: -2
`, nil, []string{
			"admin.address: is already used by listeners[0]: the admin API never shares the public listener",
			"admin.tls.cert_file: is required: the admin API is always TLS",
			"admin.tls.key_file: is required: the admin API is always TLS",
			`admin.tls.min_version: must be "1.2" or "1.3", got "1.1"`,
			"admin.tls.client_ca_file: is required when client_certs are configured",
			"admin.client_certs[0]: set exactly one of common_name or uri",
			`admin.client_certs[0].role: must be admin, operator or auditor, got "root"`,
			"admin.client_certs[1]: set exactly one of common_name or uri",
			"admin.max_page_size: must be between 1 and 10000",
			"admin.auth_failure_threshold: must be between 0 (off) and 10000",
		}},
		{"valid", "keys:\n  store:\n    path: k.db\n", nil, nil},
		{"unknown key", "keys:\n  store:\n    path: k.db\n  pepper_value: hunter2\n", nil, []string{"keys.pepper_value: unknown field"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.extra, tc.env)
			var got []string
			if err != nil {
				for _, fe := range err.(config.Errors) {
					got = append(got, fe.Error())
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestAPIKeyBlockValidation(t *testing.T) {
	doc := strings.Replace(keysBase, "    api_key: {}", "    api_key:\n      header: \"Bad Header\"\n      query_param: \"a b\"", 1) +
		"keys:\n  store:\n    path: k.db\n"
	_, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	errs, _ := err.(config.Errors)
	if len(errs) != 2 || errs[0].Path != "authenticators[0].api_key.header" || errs[1].Path != "authenticators[0].api_key.query_param" {
		t.Fatalf("problems = %v", err)
	}
}

// The DSN holds a password: a problem with it never echoes it.
func TestDSNNotEchoed(t *testing.T) {
	_, err := parse(t, "keys:\n  store:\n    driver: postgres\n    dsn: ${DSN}\n    max_conns: ${DSN}\n",
		map[string]string{"DSN": "postgres://u:hunter2@db/x"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}
