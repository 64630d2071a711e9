package config

import (
	"strings"
	"testing"
)

// fapiBase is a valid configuration with one FAPI 2.0 route; each case
// below changes one thing in it.
const fapiBase = `
listeners:
  - {name: public, address: "127.0.0.1:8443", tls: {cert_file: c.crt, key_file: c.key}}
  - {name: fapi, address: "127.0.0.1:8444", tls: {cert_file: c.crt, key_file: c.key, profile: fapi2}}
upstreams: [{name: up, targets: ["http://127.0.0.1:9000"]}]
authenticators:
  - name: jwt
    jwt:
      issuers: [{issuer: "https://as.example", audiences: [api], jwks_url: "https://as.example/jwks", algorithms: [ES256, RS256]}]
      leeway: 5s
      dpop: {}
routes:
  - {name: fapi, path: /fapi, upstream: up, profile: fapi2, auth: {authenticators: [jwt]}}
`

// Every setting that contradicts the FAPI 2.0 profile of a route is
// refused at load, at its own path; the whole file is reported at once.
func TestFAPIRefusedAtLoad(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replaced in fapiBase
		want     []string
	}{
		{"valid", "", "", nil},
		{"no fapi2 listener", "profile: fapi2}}\n", "}}\n",
			[]string{"routes[0].profile: fapi2 needs a listener with tls.profile: fapi2 (TLS 1.2 only with ECDHE and AES-GCM)"}},
		{"unknown route profile", "profile: fapi2, auth", "profile: fapi, auth",
			[]string{`routes[0].profile: must be none or fapi2; got "fapi"`}},
		{"unknown listener profile", "profile: fapi2}}\n", "profile: fapi}}\n", []string{
			`listeners[1].tls.profile: must be default or fapi2; got "fapi"`,
			"routes[0].profile: fapi2 needs a listener with tls.profile: fapi2 (TLS 1.2 only with ECDHE and AES-GCM)"}},
		{"public route", "auth: {authenticators: [jwt]}", "auth: none",
			[]string{"routes[0].auth: profile fapi2 needs authenticators: a FAPI resource is never public"}},
		{"token in the query", "auth: {authenticators: [jwt]}", "auth: {authenticators: [jwt], allow_query_token: true}",
			[]string{"routes[0].auth.allow_query_token: must be false under profile fapi2: the access token goes in the Authorization header only"}},
		{"token in a cookie", "auth: {authenticators: [jwt]}", "auth: {authenticators: [jwt], allow_cookie_token: at}",
			[]string{"routes[0].auth.allow_cookie_token: must not be set under profile fapi2: the access token goes in the Authorization header only"}},
		{"leeway over 10s", "leeway: 5s", "leeway: 11s",
			[]string{`authenticators[0].jwt.leeway: must be at most 10s: route "fapi" has profile fapi2`}},
		{"default leeway", "      leeway: 5s\n", "",
			[]string{`authenticators[0].jwt.leeway: must be at most 10s: route "fapi" has profile fapi2`}},
		{"issuer without a FAPI algorithm", "algorithms: [ES256, RS256]", "algorithms: [RS256, RS512]",
			[]string{`authenticators[0].jwt.issuers[0].algorithms: route "fapi" has profile fapi2, which accepts only PS256, ES256, EdDSA; this issuer allows none of them`}},
		{"DPoP without a FAPI algorithm", "dpop: {}", "dpop: {algorithms: [RS256, ES384]}",
			[]string{`authenticators[0].jwt.dpop.algorithms: route "fapi" has profile fapi2, which accepts only PS256, ES256, EdDSA; none is listed`}},
		{"nothing sender-constrained", "      dpop: {}\n", "",
			[]string{`routes[0].auth.authenticators[0]: profile fapi2 needs sender-constrained tokens: give "jwt" a dpop block, or take certificate-bound tokens (a listener with tls.client_auth request, optional or require, or client_cert_header)`}},
		{"certificate-bound tokens only", "      dpop: {}\n", "", nil}, // with the listener below
		{"not an OAuth authenticator", "      dpop: {}\n", "  - name: certs\n    mtls: {common_names: [tpp]}\n", []string{
			`routes[0].auth.authenticators[0]: profile fapi2 accepts sender-constrained OAuth access tokens only (jwt or introspection), not mtls`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := fapiBase
			if tt.old != "" {
				doc = strings.Replace(doc, tt.old, tt.new, 1)
			}
			switch tt.name {
			case "certificate-bound tokens only":
				doc = strings.Replace(doc, "profile: fapi2}}", "profile: fapi2, client_auth: request}}", 1)
			case "not an OAuth authenticator":
				doc = strings.Replace(doc, "profile: fapi2}}", "profile: fapi2, client_auth: optional, client_ca_file: ca.crt}}", 1)
				doc = strings.Replace(doc, "authenticators: [jwt]}", "authenticators: [certs]}", 1)
			}
			checkErrors(t, doc, tt.want)
		})
	}
}

// The keys of sender-constrained tokens are checked with their paths.
func TestSenderConstraintKeys(t *testing.T) {
	const base = `
listeners:
  - {address: "127.0.0.1:8443", tls: {cert_file: c.crt, key_file: c.key, client_auth: request}}
upstreams: [{name: up, targets: ["http://127.0.0.1:9000"]}]
trusted_proxies: [10.0.0.1]
client_cert_header: {name: X-SSL-Client-Cert}
authenticators:
  - name: jwt
    jwt:
      issuers: [{issuer: "https://as.example", audiences: [api], jwks_url: "https://as.example/jwks"}]
      dpop: {nonce: {secrets: [{env: NONCE}]}}
routes:
  - {name: r, path: /r, upstream: up, auth: {authenticators: [jwt]}}
`
	tests := []struct {
		name     string
		old, new string
		want     []string
	}{
		{"valid", "", "", nil},
		{"proof age zero", "dpop: {", "dpop: {max_age: 0s, ", []string{"authenticators[0].jwt.dpop.max_age: must be between 1s and 5m"}},
		{"proof future zero", "dpop: {", "dpop: {max_future: 0s, ", []string{"authenticators[0].jwt.dpop.max_future: must be between 1s and 1m"}},
		{"proof size", "dpop: {", "dpop: {max_proof_bytes: 64KiB, ", []string{"authenticators[0].jwt.dpop.max_proof_bytes: must be between 1KiB and 16KiB"}},
		{"HMAC proofs", "dpop: {", "dpop: {algorithms: [ES256, HS256, ES256], ", []string{
			`authenticators[0].jwt.dpop.algorithms[1]: unsupported algorithm "HS256" (allowed: RS256/384/512, PS256/384/512, ES256/384/512, EdDSA; never none or HS*)`,
			`authenticators[0].jwt.dpop.algorithms[2]: duplicate algorithm "ES256"`}},
		{"no algorithms", "dpop: {", "dpop: {algorithms: [], ", []string{
			"authenticators[0].jwt.dpop.algorithms: needs at least one algorithm (leave it out for ES256, PS256, EdDSA)"}},
		{"no nonce secrets", "secrets: [{env: NONCE}]", "secrets: []", []string{"authenticators[0].jwt.dpop.nonce.secrets: needs 1 to 4 secrets (env or file)"}},
		{"nonce secret nowhere", "secrets: [{env: NONCE}]", "secrets: [{}]", []string{"authenticators[0].jwt.dpop.nonce.secrets[0]: set env or file"}},
		{"nonce period", "secrets: [{env: NONCE}]", "secrets: [{env: NONCE}], period: 0s", []string{"authenticators[0].jwt.dpop.nonce.period: must be between 1s and 1h"}},
		{"certificate header without trusted proxies", "trusted_proxies: [10.0.0.1]\n", "",
			[]string{"trusted_proxies: is empty, but client_cert_header is read only from trusted proxies"}},
		{"certificate header that means something else", "name: X-SSL-Client-Cert", "name: authorization",
			[]string{"client_cert_header.name: authorization cannot carry the client certificate"}},
		{"identity header as certificate header", "name: X-SSL-Client-Cert", "name: X-Consumer-Id",
			[]string{"client_cert_header.name: X-Consumer-Id is an identity header"}},
		{"certificate header format", "name: X-SSL-Client-Cert}", "name: X-SSL-Client-Cert, format: pem}",
			[]string{`client_cert_header.format: must be escaped_pem or xfcc; got "pem"`}},
		{"request with a client CA", "client_auth: request}", "client_auth: request, client_ca_file: ca.crt}",
			[]string{`listeners[0].tls.client_ca_file: must not be set with client_auth "request" (certificates are not verified)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := base
			if tt.old != "" {
				doc = strings.Replace(base, tt.old, tt.new, 1)
			}
			checkErrors(t, doc, tt.want)
		})
	}
}

func checkErrors(t *testing.T, doc string, want []string) {
	t.Helper()
	_, err := Parse([]byte(doc), noEnv)
	got := ""
	if err != nil {
		got = err.Error()
	}
	if w := strings.Join(want, "\n"); got != w {
		t.Fatalf("errors:\n%s\nwant:\n%s", got, w)
	}
}
