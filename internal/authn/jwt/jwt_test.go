package jwt_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"github.com/portcullis/portcullis/internal/testenv"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/testissuer"
	"github.com/portcullis/portcullis/internal/tokencache"
)

// Challenges a client must see.
const (
	chPlain    = `Bearer realm="portcullis"`
	chInvalid  = `Bearer realm="portcullis", error="invalid_token", error_description="The access token is invalid."`
	chExpired  = `Bearer realm="portcullis", error="invalid_token", error_description="The access token has expired."`
	chEmpty    = `Bearer realm="portcullis", error="invalid_request", error_description="The bearer token is empty."`
	chTwo      = `Bearer realm="portcullis", error="invalid_request", error_description="Send exactly one Authorization header."`
	chTwoPlace = `Bearer realm="portcullis", error="invalid_request", error_description="Send the access token in exactly one place."`
	chScope    = `Bearer realm="portcullis", error="insufficient_scope", error_description="The access token lacks the scope this request needs.", scope="payments:write"`
)

type fixture struct {
	env    *gatewaytest.Env
	is     *testissuer.Issuer
	gw     *gatewaytest.Gateway
	clk    *testenv.Clock
	client *http.Client
	now    time.Time
	jwks   *jwks.Registry
}

func jwtConfig(env *gatewaytest.Env, is *testissuer.Issuer, issuerCA string) string {
	return env.Base("none") + `
authenticators:
  - name: partner-jwt
    jwt:
      issuers:
        - issuer: "` + is.URL() + `"
          audiences: [payments-api]
          jwks_url: "` + is.JWKSURL() + `"
          ca_file: ` + issuerCA + `
          min_refresh_interval: 30s
          refresh_interval: 10m
      leeway: 30s
      claims:
        roles: realm_access.roles
  # Same issuer settings as partner-jwt: the two share one key set, so
  # the fetch counts of the rotation tests stay exact.
  - name: strict-jwt
    jwt:
      issuers:
        - issuer: "` + is.URL() + `"
          audiences: [payments-api]
          jwks_url: "` + is.JWKSURL() + `"
          ca_file: ` + issuerCA + `
          min_refresh_interval: 30s
          refresh_interval: 10m
      require_typ: at+jwt
# The attack table sends dozens of bad tokens from one IP on purpose.
rate_limits:
  brute_force:
    enabled: false
routes:
  - name: accounts
    path: /v1/accounts
    upstream: echo
    auth:
      authenticators: [partner-jwt]
      require:
        scopes:
          all_of: [accounts:read]
  - name: payments
    path: /v1/payments
    methods: [GET, POST]
    upstream: echo
    auth:
      authenticators: [partner-jwt]
      methods:
        POST:
          scopes:
            all_of: [payments:write]
  - name: legacy
    path: /v1/legacy
    upstream: echo
    auth:
      authenticators: [partner-jwt]
      allow_query_token: true
  - name: admin
    path: /v1/admin
    upstream: echo
    auth:
      authenticators: [partner-jwt]
      require:
        roles: [admin]
  - name: strict
    path: /v1/strict
    upstream: echo
    auth:
      authenticators: [strict-jwt]
  - name: sealed
    path: /v1/sealed
    upstream: echo
    auth:
      authenticators: [partner-jwt]
      strip_token: true
`
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := gatewaytest.NewEnv(t)
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = is.Close() })
	issuerCA := filepath.Join(env.Dir, "issuer-ca.crt")
	if err := is.CA.WriteFile(issuerCA); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	clk := testenv.NewClock(now)
	deps := gateway.Deps{JWKS: jwks.NewRegistry(nil, clk.Now), TokenCache: tokencache.New(0, clk.Now), Now: clk.Now}
	gw := env.Start(t, jwtConfig(env, is, issuerCA), deps)
	return &fixture{env: env, is: is, gw: gw, clk: clk, client: env.Client(), now: now, jwks: deps.JWKS}
}

func (f *fixture) claims(mod func(map[string]any)) map[string]any {
	c := f.is.Claims("payments-api", "alice", "accounts:read", f.now, 10*time.Minute)
	if mod != nil {
		mod(c)
	}
	return c
}

func (f *fixture) get(t *testing.T, method, path string, hdr http.Header) gatewaytest.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.gw.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	return gatewaytest.Do(t, f.client, req)
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// rawToken builds header.payload.signature with random signature bytes.
func rawToken(header map[string]any, payload []byte) string {
	sig := make([]byte, 256)
	_, _ = rand.Read(sig)
	return b64(string(mustJSON(header))) + "." + b64(string(payload)) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestAttackTable(t *testing.T) {
	f := newFixture(t)
	is := f.is
	rsaKid, ecKid, edKid := is.KidFor("RS256"), is.KidFor("ES256"), is.KidFor("EdDSA")
	good := is.Sign(f.claims(nil))
	parts := strings.Split(good, ".")
	weakKid, err := is.AddKey("RS1024")
	if err != nil {
		t.Fatal(err)
	}
	evil, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Close()
	goodPayload := mustJSON(f.claims(nil))
	// typed signs a good token whose typ header is typ (nil: no typ).
	typed := func(typ any) string { return is.SignWith(rsaKid, f.claims(nil), map[string]any{"typ": typ}) }

	tests := []struct {
		name      string
		method    string
		path      string
		header    http.Header
		status    int
		challenge string
		problem   string
	}{
		{"valid RS256", "GET", "/v1/accounts", bearer(good), 200, "", ""},
		{"valid ES256", "GET", "/v1/accounts", bearer(is.SignWith(ecKid, f.claims(nil), nil)), 200, "", ""},
		{"valid EdDSA", "GET", "/v1/accounts", bearer(is.SignWith(edKid, f.claims(nil), nil)), 200, "", ""},
		{"scheme is case-insensitive", "GET", "/v1/accounts", http.Header{"Authorization": {"bearer " + good}}, 200, "", ""},
		{"expired but within leeway", "GET", "/v1/accounts", bearer(is.Sign(f.claims(func(c map[string]any) { c["exp"] = f.now.Add(-10 * time.Second).Unix() }))), 200, "", ""},
		{"no credential", "GET", "/v1/accounts", nil, 401, chPlain, "unauthenticated"},
		{"alg none", "GET", "/v1/accounts", bearer(testissuer.Unsigned(map[string]any{"alg": "none", "kid": rsaKid, "typ": "JWT"}, goodPayload)), 401, chInvalid, "invalid-credential"},
		{"alg none without kid", "GET", "/v1/accounts", bearer(testissuer.Unsigned(map[string]any{"alg": "none"}, goodPayload)), 401, chInvalid, "invalid-credential"},
		{"HS256 keyed with the RSA public key", "GET", "/v1/accounts", bearer(testissuer.HS256(map[string]any{"alg": "HS256", "kid": rsaKid, "typ": "JWT"}, goodPayload, is.PublicKeyPEM(rsaKid))), 401, chInvalid, "invalid-credential"},
		{"RS256 alg with an EC key's kid", "GET", "/v1/accounts", bearer(rawToken(map[string]any{"alg": "RS256", "kid": ecKid}, goodPayload)), 401, chInvalid, "invalid-credential"},
		{"alg outside the allow-list", "GET", "/v1/accounts", bearer(rawToken(map[string]any{"alg": "PS384", "kid": rsaKid}, goodPayload)), 401, chInvalid, "invalid-credential"},
		{"RSA key under 2048 bits", "GET", "/v1/accounts", bearer(is.SignWith(weakKid, f.claims(nil), nil)), 401, chInvalid, "invalid-credential"},
		{"wrong issuer", "GET", "/v1/accounts", bearer(is.Sign(f.claims(func(c map[string]any) { c["iss"] = "https://evil.example" }))), 401, chInvalid, "invalid-credential"},
		{"issuer differs by a trailing slash", "GET", "/v1/accounts", bearer(is.Sign(f.claims(func(c map[string]any) { c["iss"] = is.URL() + "/" }))), 401, chInvalid, "invalid-credential"},
		{"wrong audience", "GET", "/v1/accounts", bearer(is.Sign(f.claims(func(c map[string]any) { c["aud"] = "other-api" }))), 401, chInvalid, "invalid-credential"},
		{"audience list containing ours", "GET", "/v1/accounts", bearer(is.Sign(f.claims(func(c map[string]any) { c["aud"] = []string{"other-api", "payments-api"} }))), 200, "", ""},
		{"expired", "GET", "/v1/accounts", bearer(is.Sign(f.claims(func(c map[string]any) { c["exp"] = f.now.Add(-time.Hour).Unix() }))), 401, chExpired, "invalid-credential"},
		{"no exp", "GET", "/v1/accounts", bearer(is.Sign(f.claims(func(c map[string]any) { delete(c, "exp") }))), 401, chInvalid, "invalid-credential"},
		{"exp of the wrong type", "GET", "/v1/accounts", bearer(is.Sign(f.claims(func(c map[string]any) { c["exp"] = "tomorrow" }))), 401, chInvalid, "invalid-credential"},
		{"not yet valid", "GET", "/v1/accounts", bearer(is.Sign(f.claims(func(c map[string]any) { c["nbf"] = f.now.Add(time.Hour).Unix() }))), 401, chInvalid, "invalid-credential"},
		{"issued in the future", "GET", "/v1/accounts", bearer(is.Sign(f.claims(func(c map[string]any) { c["iat"] = f.now.Add(time.Hour).Unix() }))), 401, chInvalid, "invalid-credential"},
		{"unknown kid", "GET", "/v1/accounts", bearer(is.SignWith(rsaKid, f.claims(nil), map[string]any{"kid": "no-such-key"})), 401, chInvalid, "invalid-credential"},
		{"kid path traversal", "GET", "/v1/accounts", bearer(is.SignWith(rsaKid, f.claims(nil), map[string]any{"kid": "../../../../../../dev/null"})), 401, chInvalid, "invalid-credential"},
		{"kid SQL injection", "GET", "/v1/accounts", bearer(is.SignWith(rsaKid, f.claims(nil), map[string]any{"kid": "' OR '1'='1' --"})), 401, chInvalid, "invalid-credential"},
		{"no kid with several keys", "GET", "/v1/accounts", bearer(is.SignWith(rsaKid, f.claims(nil), map[string]any{"kid": ""})), 401, chInvalid, "invalid-credential"},
		{"tampered payload", "GET", "/v1/accounts", bearer(parts[0] + "." + b64(string(mustJSON(f.claims(func(c map[string]any) { c["scope"] = "accounts:read payments:write" })))) + "." + parts[2]), 401, chInvalid, "invalid-credential"},
		{"tampered signature", "GET", "/v1/accounts", bearer(parts[0] + "." + parts[1] + "." + flip(parts[2])), 401, chInvalid, "invalid-credential"},
		{"signature stripped", "GET", "/v1/accounts", bearer(parts[0] + "." + parts[1] + "."), 401, chInvalid, "invalid-credential"},
		{"malformed base64", "GET", "/v1/accounts", bearer("eyJhbGciOiJSUzI1NiJ9$.e30!.c2ln"), 401, chInvalid, "invalid-credential"},
		{"header is not JSON", "GET", "/v1/accounts", bearer(b64("not json") + "." + parts[1] + "." + parts[2]), 401, chInvalid, "invalid-credential"},
		{"duplicate claims", "GET", "/v1/accounts", bearer(is.SignPayload(rsaKid, []byte(`{"iss":"`+is.URL()+`","aud":"payments-api","sub":"alice","sub":"admin","scope":"accounts:read","exp":`+itoa(f.now.Add(time.Hour).Unix())+`}`), nil)), 401, chInvalid, "invalid-credential"},
		{"duplicate nested claims", "GET", "/v1/admin", bearer(is.SignPayload(rsaKid, []byte(`{"iss":"`+is.URL()+`","aud":"payments-api","sub":"alice","realm_access":{"roles":["user"],"roles":["admin"]},"exp":`+itoa(f.now.Add(time.Hour).Unix())+`}`), nil)), 401, chInvalid, "invalid-credential"},
		{"nested object as issuer", "GET", "/v1/accounts", bearer(is.Sign(f.claims(func(c map[string]any) { c["iss"] = map[string]any{"iss": is.URL()} }))), 401, chInvalid, "invalid-credential"},
		{"nested JWT (cty JWT)", "GET", "/v1/accounts", bearer(is.SignWith(rsaKid, f.claims(nil), map[string]any{"cty": "JWT"})), 401, chInvalid, "invalid-credential"},
		{"crit header", "GET", "/v1/accounts", bearer(is.SignWith(rsaKid, f.claims(nil), map[string]any{"crit": []string{"exp"}, "exp": 1})), 401, chInvalid, "invalid-credential"},
		{"embedded jwk header with our kid", "GET", "/v1/accounts", bearer(testissuer.SignEmbeddedJWK(rsaKid, f.claims(nil))), 401, chInvalid, "invalid-credential"},
		{"embedded jwk header without kid", "GET", "/v1/accounts", bearer(testissuer.SignEmbeddedJWK("", f.claims(nil))), 401, chInvalid, "invalid-credential"},
		{"jku header pointing at an attacker's JWKS", "GET", "/v1/accounts", bearer(evil.SignWith(evil.Current(), f.claims(nil), map[string]any{"kid": rsaKid, "jku": evil.JWKSURL(), "x5u": evil.JWKSURL()})), 401, chInvalid, "invalid-credential"},
		{"oversized token", "GET", "/v1/accounts", bearer(is.Sign(f.claims(func(c map[string]any) { c["pad"] = strings.Repeat("A", 9000) }))), 401, chInvalid, "invalid-credential"},
		{"empty bearer", "GET", "/v1/accounts", http.Header{"Authorization": {"Bearer "}}, 401, chEmpty, "invalid-auth-request"},
		{"two Authorization headers", "GET", "/v1/accounts", http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}}, 401, chTwo, "invalid-auth-request"},
		{"token in query string (not allowed)", "GET", "/v1/accounts?access_token=" + good, nil, 401, chPlain, "unauthenticated"},
		{"token in query string (route allows it)", "GET", "/v1/legacy?a=1&access_token=" + good, nil, 200, "", ""},
		{"token in header and query", "GET", "/v1/legacy?access_token=" + good, bearer(good), 401, chTwoPlace, "invalid-auth-request"},
		{"basic credentials are not a bearer token", "GET", "/v1/accounts", http.Header{"Authorization": {"Basic YWxpY2U6c2VjcmV0"}}, 401, chPlain, "unauthenticated"},
		{"opaque token", "GET", "/v1/accounts", bearer("2YotnFZFEjr1zCsicMWpAA"), 401, chPlain, "unauthenticated"},
		{"missing scope for the method", "POST", "/v1/payments", bearer(good), 403, chScope, "insufficient-scope"},
		{"other method needs no extra scope", "GET", "/v1/payments", bearer(good), 200, "", ""},
		{"scope granted", "POST", "/v1/payments", bearer(is.Sign(f.claims(func(c map[string]any) { c["scope"] = "payments:write" }))), 200, "", ""},
		{"missing role", "GET", "/v1/admin", bearer(good), 403, "", "forbidden"},
		// Token-type confusion: another kind of JWT whose claims fit.
		{"typ dpop+jwt", "GET", "/v1/accounts", bearer(typed("dpop+jwt")), 401, chInvalid, "invalid-credential"},
		{"typ application/dpop+jwt", "GET", "/v1/accounts", bearer(typed("application/dpop+jwt")), 401, chInvalid, "invalid-credential"},
		{"typ logout+jwt", "GET", "/v1/accounts", bearer(typed("logout+jwt")), 401, chInvalid, "invalid-credential"},
		{"typ secevent+jwt", "GET", "/v1/accounts", bearer(typed("secevent+jwt")), 401, chInvalid, "invalid-credential"},
		{"typ JOSE", "GET", "/v1/accounts", bearer(typed("JOSE")), 401, chInvalid, "invalid-credential"},
		{"typ at+jwt with a parameter", "GET", "/v1/accounts", bearer(typed("at+jwt; v=1")), 401, chInvalid, "invalid-credential"},
		{"typ empty", "GET", "/v1/accounts", bearer(typed("")), 401, chInvalid, "invalid-credential"},
		{"typ not a string", "GET", "/v1/accounts", bearer(typed([]string{"at+jwt"})), 401, chInvalid, "invalid-credential"},
		{"typ at+jwt", "GET", "/v1/accounts", bearer(typed("at+jwt")), 200, "", ""},
		{"typ AT+JWT", "GET", "/v1/accounts", bearer(typed("AT+JWT")), 200, "", ""},
		{"typ Application/At+Jwt", "GET", "/v1/accounts", bearer(typed("Application/At+Jwt")), 200, "", ""},
		{"typ JWT", "GET", "/v1/accounts", bearer(typed("JWT")), 200, "", ""},
		{"typ jwt", "GET", "/v1/accounts", bearer(typed("jwt")), 200, "", ""},
		{"typ application/jwt", "GET", "/v1/accounts", bearer(typed("application/jwt")), 200, "", ""},
		{"no typ", "GET", "/v1/accounts", bearer(typed(nil)), 200, "", ""},
		// go-jose reads a null header as an absent one.
		{"typ null is no typ", "GET", "/v1/accounts", bearer(typed(json.RawMessage("null"))), 200, "", ""},
		{"require at+jwt: typ null", "GET", "/v1/strict", bearer(typed(json.RawMessage("null"))), 401, chInvalid, "invalid-credential"},
		{"require at+jwt: at+jwt", "GET", "/v1/strict", bearer(typed("at+jwt")), 200, "", ""},
		{"require at+jwt: application/at+jwt", "GET", "/v1/strict", bearer(typed("application/AT+JWT")), 200, "", ""},
		{"require at+jwt: JWT", "GET", "/v1/strict", bearer(typed("JWT")), 401, chInvalid, "invalid-credential"},
		{"require at+jwt: no typ", "GET", "/v1/strict", bearer(typed(nil)), 401, chInvalid, "invalid-credential"},
		{"require at+jwt: dpop+jwt", "GET", "/v1/strict", bearer(typed("dpop+jwt")), 401, chInvalid, "invalid-credential"},
		{"role from a nested claim path", "GET", "/v1/admin", bearer(is.Sign(f.claims(func(c map[string]any) { c["realm_access"] = map[string]any{"roles": []string{"admin"}} }))), 200, "", ""},
	}
	ids := map[string]string{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.get(t, tt.method, tt.path, tt.header)
			ids[tt.name] = resp.Header.Get("X-Request-Id")
			if resp.Status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.Status, tt.status, resp.Body)
			}
			if got := strings.Join(resp.Header.Values("WWW-Authenticate"), " | "); got != tt.challenge {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if tt.status < 400 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type = %q", ct)
			}
			p := resp.Problem(t)
			if p["type"] != "https://portcullis.dev/problems/"+tt.problem || p["status"] != float64(tt.status) || p["request_id"] == "" {
				t.Fatalf("problem = %v, want type %s", p, tt.problem)
			}
			if strings.Contains(string(resp.Body), good[:40]) || strings.Contains(string(resp.Body), "eyJ") {
				t.Fatalf("problem body echoes a token: %s", resp.Body)
			}
		})
	}
	if n := evil.Fetches(); n != 0 {
		t.Fatalf("the attacker's JWKS (jku/x5u) was fetched %d times", n)
	}
	// Each rejection was for the reason the case is about (the log says
	// why; the client never does).
	f.gw.Stop()
	failures := authFailures(t, f.env.ReadAccessLog(t))
	for _, tt := range tests {
		got := failures[ids[tt.name]]
		if want := wantReason[tt.name]; want != "" && !strings.Contains(got, want) {
			t.Errorf("%s: auth_failure = %q, want it to contain %q", tt.name, got, want)
		}
	}
}

var wantReason = map[string]string{
	"alg none":                                  `alg "none" is not allowed`,
	"alg none without kid":                      `alg "none" is not allowed`,
	"HS256 keyed with the RSA public key":       `alg "HS256" is not allowed`,
	"RS256 alg with an EC key's kid":            "does not fit its alg",
	"alg outside the allow-list":                `alg "PS384" is not allowed`,
	"RSA key under 2048 bits":                   "no key with the token's kid",
	"wrong issuer":                              "untrusted issuer",
	"issuer differs by a trailing slash":        "untrusted issuer",
	"wrong audience":                            "aud not accepted",
	"expired":                                   "token expired",
	"no exp":                                    "no exp claim",
	"exp of the wrong type":                     "registered claims have wrong types",
	"not yet valid":                             "nbf in the future",
	"issued in the future":                      "iat in the future",
	"unknown kid":                               "no key with the token's kid",
	"kid path traversal":                        "no key with the token's kid",
	"kid SQL injection":                         "no key with the token's kid",
	"no kid with several keys":                  "token has no kid",
	"tampered payload":                          "signature does not verify",
	"tampered signature":                        "signature does not verify",
	"signature stripped":                        "signature does not verify",
	"malformed base64":                          "malformed token",
	"header is not JSON":                        "malformed token",
	"duplicate claims":                          `duplicate JSON member "sub"`,
	"duplicate nested claims":                   `duplicate JSON member "roles"`,
	"nested object as issuer":                   "untrusted issuer",
	"nested JWT (cty JWT)":                      "nested JWT",
	"crit header":                               "crit header",
	"embedded jwk header with our kid":          "does not fit its alg",
	"embedded jwk header without kid":           "token has no kid",
	"jku header pointing at an attacker's JWKS": "signature does not verify",
	"oversized token":                           "bearer token too large",
	"empty bearer":                              "empty bearer token",
	"two Authorization headers":                 "several Authorization headers",
	"token in query string (not allowed)":       "no credential",
	"token in header and query":                 "more than one place",
	"opaque token":                              "no credential",
	"missing scope for the method":              `authz: missing scope "payments:write"`,
	"missing role":                              "authz: none of the roles admin",
	"typ dpop+jwt":                              `typ "dpop+jwt" is not an access token type`,
	"typ application/dpop+jwt":                  `typ "application/dpop+jwt" is not an access token type`,
	"typ logout+jwt":                            `typ "logout+jwt" is not an access token type`,
	"typ secevent+jwt":                          `typ "secevent+jwt" is not an access token type`,
	"typ JOSE":                                  `typ "JOSE" is not an access token type`,
	"typ at+jwt with a parameter":               `typ "at+jwt; v=1" is not an access token type`,
	"typ empty":                                 `typ "" is not an access token type`,
	"require at+jwt: typ null":                  "no typ header (require_typ: at+jwt)",
	"typ not a string":                          "typ header is not a string",
	"require at+jwt: JWT":                       `typ "JWT" is not at+jwt (require_typ: at+jwt)`,
	"require at+jwt: no typ":                    "no typ header (require_typ: at+jwt)",
	"require at+jwt: dpop+jwt":                  `typ "dpop+jwt" is not at+jwt (require_typ: at+jwt)`,
}

// authFailures maps request ids to the access log's auth_failure.
func authFailures(t *testing.T, log string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var e struct {
			ID      string `json:"request_id"`
			Failure string `json:"auth_failure"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		out[e.ID] = e.Failure
	}
	return out
}

func flip(s string) string {
	b := []byte(s)
	if b[10] == 'A' {
		b[10] = 'B'
	} else {
		b[10] = 'A'
	}
	return string(b)
}

func itoa(n int64) string { return string(mustJSON(n)) }

func TestIdentityReachesUpstream(t *testing.T) {
	f := newFixture(t)
	tok := f.is.Sign(f.claims(func(c map[string]any) {
		c["roles"] = []string{"teller"}
		c["realm_access"] = map[string]any{"roles": []string{"teller", "auditor"}}
	}))
	hdr := bearer(tok)
	hdr["X-Consumer-Id"] = []string{"admin"} // forged: must be replaced
	hdr["X-Scopes"] = []string{"payments:write"}
	resp := f.get(t, "GET", "/v1/accounts", hdr)
	if resp.Status != 200 {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	e := resp.Echo(t)
	want := map[string]string{
		"X-Consumer-Id": "alice", "X-Consumer-Subject": "alice", "X-Scopes": "accounts:read",
		"X-Roles": "teller auditor", "X-Auth-Method": "jwt",
	}
	for k, v := range want {
		if got := strings.Join(e.Headers[k], ","); got != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
	if id := strings.Join(e.Headers["X-Credential-Id"], ","); id == "" || strings.Contains(tok, id) && len(id) > 30 {
		t.Errorf("X-Credential-Id = %q", id)
	}

	// A query token is removed before forwarding; other parameters stay.
	resp = f.get(t, "GET", "/v1/legacy?a=1&access_token="+tok+"&b=2", nil)
	if resp.Status != 200 {
		t.Fatalf("status %d", resp.Status)
	}
	if q := resp.Echo(t).Query; strings.Contains(q, "access_token") || q != "a=1&b=2" {
		t.Fatalf("upstream query = %q", q)
	}
}

// The Authorization header reaches the upstream (token relay) unless the
// route strips it; the identity headers do either way, verified or cached.
func TestStripToken(t *testing.T) {
	f := newFixture(t)
	tok := f.is.Sign(f.claims(nil))
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/v1/sealed", ""},                // verified
		{"/v1/sealed", ""},                // from the token cache
		{"/v1/accounts", "Bearer " + tok}, // the same token, relayed
	} {
		resp := f.get(t, "GET", tc.path, bearer(tok))
		if resp.Status != 200 {
			t.Fatalf("%s: %d %s", tc.path, resp.Status, resp.Body)
		}
		e := resp.Echo(t)
		if got := strings.Join(e.Headers["Authorization"], ","); got != tc.want {
			t.Errorf("%s: upstream Authorization = %q, want %q", tc.path, got, tc.want)
		}
		if got := strings.Join(e.Headers["X-Consumer-Id"], ","); got != "alice" {
			t.Errorf("%s: upstream X-Consumer-Id = %q", tc.path, got)
		}
	}
}

func TestAccessLogNeverHoldsTheToken(t *testing.T) {
	f := newFixture(t)
	good := f.is.Sign(f.claims(nil))
	bad := f.is.Sign(f.claims(func(c map[string]any) { c["aud"] = "other"; c["sub"] = "mallory" }))
	f.get(t, "GET", "/v1/accounts", bearer(good))
	f.get(t, "GET", "/v1/accounts", bearer(bad))
	f.get(t, "GET", "/v1/legacy?access_token="+good, nil)
	f.gw.Stop()
	log := f.env.ReadAccessLog(t)
	for _, tok := range []string{good, bad} {
		for _, part := range strings.Split(tok, ".") {
			if strings.Contains(log, part) {
				t.Fatalf("access log contains a token segment:\n%s", log)
			}
		}
	}
	for _, want := range []string{`"consumer":"alice"`, `"auth_method":"jwt"`, `"auth_failure":"partner-jwt: aud not accepted"`} {
		if !strings.Contains(log, want) {
			t.Errorf("access log lacks %s:\n%s", want, log)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	old := f.is.Sign(f.claims(nil))
	if r := f.get(t, "GET", "/v1/accounts", bearer(old)); r.Status != 200 {
		t.Fatalf("before rotation: %d %s", r.Status, r.Body)
	}
	base := f.is.Fetches()

	// The issuer rotates: a token with the new kid triggers one refresh
	// and is accepted at once.
	newKid, err := f.is.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	rotated := f.is.Sign(f.claims(nil))
	if r := f.get(t, "GET", "/v1/accounts", bearer(rotated)); r.Status != 200 {
		t.Fatalf("after rotation: %d %s", r.Status, r.Body)
	}
	if got := f.is.Fetches() - base; got != 1 {
		t.Fatalf("JWKS fetched %d times for the new kid, want 1", got)
	}
	// Old tokens keep working while the old key is published.
	if r := f.get(t, "GET", "/v1/accounts", bearer(f.is.SignWith(f.is.KidFor("RS256"), f.claims(nil), nil))); r.Status != 200 {
		t.Fatalf("old key after rotation: %d", r.Status)
	}

	// Made-up kids right after a refresh do not reach the issuer.
	for i := range 20 {
		tok := f.is.SignWith(newKid, f.claims(nil), map[string]any{"kid": "made-up-" + itoa(int64(i))})
		if r := f.get(t, "GET", "/v1/accounts", bearer(tok)); r.Status != 401 {
			t.Fatalf("made-up kid: %d", r.Status)
		}
	}
	if got := f.is.Fetches() - base; got != 1 {
		t.Fatalf("JWKS fetched %d times, want 1: unknown-kid refreshes are not rate-limited", got)
	}

	// Another rotation inside the rate-limit window is refused until the
	// window passes.
	if _, err := f.is.Rotate(); err != nil {
		t.Fatal(err)
	}
	second := f.is.Sign(f.claims(nil))
	if r := f.get(t, "GET", "/v1/accounts", bearer(second)); r.Status != 401 {
		t.Fatalf("second rotation within min_refresh_interval: %d, want 401", r.Status)
	}
	f.clk.Advance(31 * time.Second)
	if r := f.get(t, "GET", "/v1/accounts", bearer(second)); r.Status != 200 {
		t.Fatalf("second rotation after min_refresh_interval: %d %s", r.Status, r.Body)
	}
	if got := f.is.Fetches() - base; got != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", got)
	}
}

func TestIssuerDownFailsClosed(t *testing.T) {
	f := newFixture(t)
	// Make the JWKS endpoint fail before the gateway ever loaded keys.
	env := f.env
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	is.FailJWKS(http.StatusServiceUnavailable)
	caFile := filepath.Join(env.Dir, "down-ca.crt")
	if err := is.CA.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	gw := env.Start(t, jwtConfig(env, is, caFile), gateway.Deps{})
	req, _ := http.NewRequest("GET", gw.URL+"/v1/accounts", nil)
	req.Header.Set("Authorization", "Bearer "+is.Sign(is.Claims("payments-api", "alice", "accounts:read", time.Now(), time.Minute)))
	resp := gatewaytest.Do(t, env.Client(), req)
	if resp.Status != 503 {
		t.Fatalf("status = %d, want 503: %s", resp.Status, resp.Body)
	}
	if p := resp.Problem(t); p["type"] != "https://portcullis.dev/problems/auth-unavailable" {
		t.Fatalf("problem = %v", p)
	}
	if strings.Contains(string(resp.Body), "503") && strings.Contains(string(resp.Body), "status 503") {
		t.Fatalf("internal error leaked: %s", resp.Body)
	}
}

func TestReloadKeepsKeys(t *testing.T) {
	f := newFixture(t)
	tok := f.is.Sign(f.claims(nil))
	if r := f.get(t, "GET", "/v1/accounts", bearer(tok)); r.Status != 200 {
		t.Fatalf("status %d", r.Status)
	}
	fetches := f.is.Fetches()
	// Reload the same configuration, then one with a stricter route: the
	// JWKS is not refetched, and the new rules apply at once.
	issuerCA := filepath.Join(f.env.Dir, "issuer-ca.crt")
	cfg := gatewaytest.Parse(t, jwtConfig(f.env, f.is, issuerCA))
	if err := f.gw.Server.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if r := f.get(t, "GET", "/v1/accounts", bearer(tok)); r.Status != 200 {
		t.Fatalf("after reload: %d", r.Status)
	}
	stricter := strings.Replace(jwtConfig(f.env, f.is, issuerCA), "all_of: [accounts:read]", "all_of: [accounts:read, accounts:export]", 1)
	if err := f.gw.Server.Reload(gatewaytest.Parse(t, stricter)); err != nil {
		t.Fatal(err)
	}
	if r := f.get(t, "GET", "/v1/accounts", bearer(tok)); r.Status != 403 {
		t.Fatalf("after a stricter reload: %d, want 403", r.Status)
	}
	if got := f.is.Fetches(); got != fetches {
		t.Fatalf("reloads refetched the JWKS: %d -> %d fetches", fetches, got)
	}
}

// A reload that changes how an issuer's key set is fetched releases the
// old key set: the registry holds only what the running configuration
// uses.
func TestReloadReleasesUnusedKeySets(t *testing.T) {
	f := newFixture(t)
	issuerCA := filepath.Join(f.env.Dir, "issuer-ca.crt")
	for i, interval := range []string{"11m", "12m", "12m"} {
		doc := strings.Replace(jwtConfig(f.env, f.is, issuerCA), "refresh_interval: 10m", "refresh_interval: "+interval, -1)
		if err := f.gw.Server.Reload(gatewaytest.Parse(t, doc)); err != nil {
			t.Fatal(err)
		}
		if n := f.jwks.Len(); n != 1 {
			t.Fatalf("reload %d: the registry holds %d key sets, want 1", i, n)
		}
	}
	tok := f.is.Sign(f.claims(nil))
	if r := f.get(t, "GET", "/v1/accounts", bearer(tok)); r.Status != 200 {
		t.Fatalf("after the reloads: %d", r.Status)
	}
}

// A key the issuer withdraws from its JWKS takes every token it signed
// with it at the next refresh, cached or not.
func TestRetiredKeyLeavesTheCache(t *testing.T) {
	f := newFixture(t)
	oldKid := f.is.Current()
	old := f.is.Sign(f.claims(nil))
	for i := range 2 { // the second answer comes from the token cache
		if r := f.get(t, "GET", "/v1/accounts", bearer(old)); r.Status != 200 {
			t.Fatalf("before rotation (%d): %d %s", i, r.Status, r.Body)
		}
	}
	if _, err := f.is.Rotate(); err != nil {
		t.Fatal(err)
	}
	f.is.Retire(oldKid)
	// A token with the new kid makes the gateway fetch the JWKS now.
	if r := f.get(t, "GET", "/v1/accounts", bearer(f.is.Sign(f.claims(nil)))); r.Status != 200 {
		t.Fatalf("new key: %d %s", r.Status, r.Body)
	}
	r := f.get(t, "GET", "/v1/accounts", bearer(old))
	if r.Status != 401 || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("token of the withdrawn key: %d %q %s", r.Status, r.Header.Get("WWW-Authenticate"), r.Body)
	}
}
