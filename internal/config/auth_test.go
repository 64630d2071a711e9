package config

import (
	"strings"
	"testing"
)

const authBase = `
listeners:
  - address: "127.0.0.1:8443"
    tls: {cert_file: c, key_file: k, client_auth: optional, client_ca_file: ca}
upstreams:
  - {name: up, targets: ["http://127.0.0.1:9000"]}
`

func TestAuthValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every line must appear
	}{
		{"route without auth is an error", `
routes:
  - {name: r, path: /, upstream: up}
`, []string{`routes[0].auth: is required`}},
		{"jwt problems are all reported with paths", `
authenticators:
  - name: j
    jwt:
      leeway: 1h
      issuers:
        - issuer: ""
          jwks_url: "http://idp.example/jwks"
          algorithms: [HS256]
          min_refresh_interval: 10ms
        - issuer: "https://idp"
          audiences: [""]
      claim_rules:
        - {claim: "", one_of: []}
routes:
  - {name: r, path: /, upstream: up, auth: {authenticators: [j]}}
`, []string{
			"authenticators[0].jwt.leeway: must be at most 5m",
			"authenticators[0].jwt.claim_rules[0].claim: must not be empty",
			"authenticators[0].jwt.claim_rules[0].one_of: at least one value is required",
			"authenticators[0].jwt.issuers[0].issuer: is required",
			"authenticators[0].jwt.issuers[0].audiences: at least one audience is required",
			"authenticators[0].jwt.issuers[0].jwks_url: must be an https URL",
			`authenticators[0].jwt.issuers[0].algorithms[0]: unsupported algorithm "HS256"`,
			"authenticators[0].jwt.issuers[0].min_refresh_interval: must be at least 1s",
			"authenticators[0].jwt.issuers[1].audiences[0]: must not be empty",
			"authenticators[0].jwt.issuers[1]: one of jwks_url or jwks_file is required",
		}},
		{"jwt: no issuer, duplicates, exclusive sources, bounds", `
authenticators:
  - name: none
    jwt: {}
  - name: j
    jwt:
      max_token_bytes: 1MiB
      require_typ: dpop+jwt
      issuers:
        - {issuer: "https://a", audiences: [x], jwks_url: "https://a/jwks", algorithms: [none]}
        - {issuer: "https://a", audiences: [x], jwks_url: "https://a/jwks", jwks_file: k.pem}
routes:
  - {name: r, path: /, upstream: up, auth: {authenticators: [j, none]}}
`, []string{
			"authenticators[0].jwt.issuers: at least one issuer is required",
			"authenticators[1].jwt.max_token_bytes: must be between 512B and 64KiB",
			`authenticators[1].jwt.require_typ: must be at+jwt (or left out), got "dpop+jwt"`,
			`authenticators[1].jwt.issuers[0].algorithms[0]: unsupported algorithm "none"`,
			`authenticators[1].jwt.issuers[1].issuer: duplicate issuer "https://a"`,
			"authenticators[1].jwt.issuers[1]: jwks_url and jwks_file are mutually exclusive",
		}},
		{"introspection problems", `
authenticators:
  - name: i
    introspection:
      endpoint: "http://as/introspect"
      auth_method: private_key_jwt
      client_cert_file: c
      negative_cache_ttl: 1h
routes:
  - {name: r, path: /, upstream: up, auth: {authenticators: [i]}}
`, []string{
			"authenticators[0].introspection.endpoint: must be an https URL",
			"authenticators[0].introspection.client_id: is required",
			`authenticators[0].introspection.auth_method: must be one of client_secret_basic, client_secret_post, tls_client_auth; got "private_key_jwt"`,
			"authenticators[0].introspection: client_cert_file and client_key_file must be set together",
			"authenticators[0].introspection.negative_cache_ttl: must not be longer than cache_ttl",
		}},
		{"route auth problems", `
authenticators:
  - name: m
    mtls: {common_names: [a]}
routes:
  - name: r
    path: /
    upstream: up
    methods: [GET]
    auth:
      authenticators: [m, nope]
      allow_query_token: true
      allow_cookie_token: "bad cookie"
      require:
        scopes: {all_of: ["has space"]}
      methods:
        POST: {roles: [x]}
`, []string{
			`routes[0].auth.authenticators[1]: unknown authenticator "nope"`,
			"routes[0].auth: allow_query_token and allow_cookie_token need a jwt or introspection authenticator",
			`routes[0].auth.allow_cookie_token: invalid cookie name "bad cookie"`,
			`routes[0].auth.require.scopes.all_of[0]: invalid value "has space"`,
			"routes[0].auth.methods.POST: the route does not accept POST",
		}},
		{"unknown keys are rejected with their path", `
authenticators:
  - name: j
    jwt:
      issuers:
        - issuer: https://idp
          audience: [a]
routes:
  - {name: r, path: /, upstream: up, auth: none}
`, []string{"authenticators[0].jwt.issuers[0].audience: unknown field"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(authBase+tt.yaml), noEnv)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestAuthDefaults(t *testing.T) {
	cfg, err := Parse([]byte(authBase+`
authenticators:
  - name: j
    jwt:
      issuers:
        - {issuer: "https://idp", audiences: [api], jwks_url: "https://idp/jwks"}
  - name: i
    introspection: {endpoint: "https://as/introspect", client_id: gw, client_secret: s}
  - name: m
    mtls: {common_names: [a]}
routes:
  - {name: r, path: /, upstream: up, auth: {authenticators: [j, i, m]}}
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.Authenticators[0].JWT
	is := j.Issuers[0]
	if j.Leeway.D() != DefaultJWTLeeway || j.MaxTokenBytes != DefaultJWTMaxTokenBytes || j.CacheTTL.D() != DefaultJWTCacheTTL ||
		strings.Join(is.Algorithms, ",") != "RS256,PS256,ES256,EdDSA" || is.RefreshInterval.D() != DefaultJWKSRefreshInterval ||
		is.MinRefreshInterval.D() != DefaultJWKSMinRefresh || j.Claims.Scopes != "scope" || j.Claims.Consumer != "sub" {
		t.Errorf("jwt defaults: %+v", j)
	}
	in := cfg.Authenticators[1].Introspection
	if in.AuthMethod != "client_secret_basic" || in.Timeout.D() != DefaultIntrospectionTimeout || in.NegativeCacheTTL.D() != DefaultIntrospectionNegativeTTL {
		t.Errorf("introspection defaults: %+v", in)
	}
	if m := cfg.Authenticators[2].MTLS; m.ConsumerFrom != "common_name" {
		t.Errorf("mtls defaults: %+v", m)
	}
}
