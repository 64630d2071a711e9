package fapi_test

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/authn/certbind"
	"github.com/portcullis/portcullis/internal/fapi"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/testissuer"
)

// Challenges of the FAPI route, whose dpop block lists ES256, RS256 and
// EdDSA: the profile narrows the proof algorithms to ES256 and EdDSA.
const (
	fapiChallenge = `DPoP realm="portcullis", algs="ES256 EdDSA"`
	chUnbound     = fapiChallenge + `, error="invalid_token", error_description="This resource accepts sender-constrained access tokens only (DPoP or certificate-bound)."`
	chBadToken    = fapiChallenge + `, error="invalid_token", error_description="The access token is invalid."`
	chBadProof    = fapiChallenge + `, error="invalid_dpop_proof", error_description="The DPoP proof is invalid."`
)

// fapiConfig: a default listener "public" and a FAPI listener "fapi" that
// asks for client certificates; the FAPI route and an upstream that sends
// its own interaction id.
const fapiConfig = `
listeners:
  - name: public
    address: "127.0.0.1:0"
    tls: {cert_file: "{{CERT}}", key_file: "{{KEY}}"}
  - name: fapi
    address: "127.0.0.1:0"
    tls: {cert_file: "{{CERT}}", key_file: "{{KEY}}", profile: fapi2, client_auth: request}
ops: {disabled: true}
logging: {level: error, access: {output: "{{ACCESS}}"}}
upstreams:
  - name: echo
    targets: ["{{UP}}"]
  - name: chatty
    targets: ["{{CHATTY}}"]
rate_limits: {brute_force: {enabled: false}}
authenticators:
  - name: fapi-jwt
    jwt:
      issuers: [{issuer: "{{ISS}}", audiences: [api], jwks_file: "{{JWKS}}", algorithms: [ES256, RS256]}]
      leeway: 5s
      dpop: {algorithms: [ES256, RS256, EdDSA]}
routes:
  - name: fapi-accounts
    path: /v1/fapi/accounts
    upstream: echo
    profile: fapi2
    auth: {authenticators: [fapi-jwt], require: {scopes: {all_of: [accounts:read]}}}
  - name: fapi-chatty
    path: /v1/fapi/chatty
    upstream: chatty
    profile: fapi2
    auth: {authenticators: [fapi-jwt]}
`

type fixture struct {
	env      *gatewaytest.Env
	gw       *gatewaytest.Gateway
	issuer   *testissuer.Issuer
	key      *testissuer.DPoPKey
	cert     tls.Certificate
	fapiURL  string
	plainURL string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{env: gatewaytest.NewEnv(t)}
	var err error
	if f.issuer, err = testissuer.New(testissuer.Options{CA: f.env.CA}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.issuer.Close() })
	if f.key, err = testissuer.NewDPoPKey("ES256"); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA("self-signed client", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.cert = tls.Certificate{Certificate: [][]byte{ca.Cert.Raw}, PrivateKey: ca.Key}
	chatty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(fapi.InteractionHeader, "upstream-made-this-up")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(chatty.Close)
	jwksFile := filepath.Join(f.env.Dir, "jwks.json")
	if err := os.WriteFile(jwksFile, f.issuer.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := strings.NewReplacer("{{CERT}}", f.env.CertFile, "{{KEY}}", f.env.KeyFile, "{{ACCESS}}", f.env.AccessLog,
		"{{UP}}", f.env.Upstream, "{{CHATTY}}", chatty.URL, "{{ISS}}", f.issuer.URL(), "{{JWKS}}", jwksFile).Replace(fapiConfig)
	f.gw = f.env.Start(t, doc, gateway.Deps{})
	f.fapiURL = "https://" + f.gw.Server.Addr("fapi")
	f.plainURL = f.gw.URL
	return f
}

// token is an access token signed with alg (ES256 or RS256), edited by
// edit.
func (f *fixture) token(alg string, edit func(map[string]any)) string {
	c := f.issuer.Claims("api", "tpp-1", "accounts:read", time.Now(), time.Hour)
	if edit != nil {
		edit(c)
	}
	return f.issuer.SignWith(f.issuer.KidFor(alg), c, nil)
}

func (f *fixture) bound(alg string) string {
	return f.token(alg, func(c map[string]any) { f.key.Bind(c) })
}

func (f *fixture) client(t *testing.T, proto string, certs ...tls.Certificate) *http.Client {
	t.Helper()
	var p http.Protocols
	if proto == "HTTP/2.0" {
		p.SetHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.env.CA.Pool(), Certificates: certs}, Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestFAPIProfile runs the FAPI 2.0 rules of a route through the real TLS
// gateway, over HTTP/1.1 and HTTP/2: every response carries
// x-fapi-interaction-id (the client's UUID, or a new one), only
// sender-constrained tokens signed with an allowed algorithm pass, and only
// over the FAPI listener.
func TestFAPIProfile(t *testing.T) {
	f := newFixture(t)
	const clientID = "0f8fad5b-d9cb-469f-a165-70867728950e"
	tests := []struct {
		name   string
		base   string // "plain" for the default listener
		path   string
		cert   bool
		hdr    func(url string) http.Header
		status int
		// challenge is the exact WWW-Authenticate ("" for none, or see
		// challenges); ptype the problem type of an error.
		challenge, ptype string
		challenges       []string
		// id is the interaction id the client must get back ("" for a
		// fresh UUID).
		id string
	}{
		{name: "DPoP, no interaction id: a new one", status: 200, hdr: func(u string) http.Header {
			tok := f.bound("ES256")
			return http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {f.key.Proof("GET", u, tok, time.Now())}}
		}},
		{name: "DPoP, the client's interaction id echoed", status: 200, id: clientID, hdr: func(u string) http.Header {
			tok := f.bound("ES256")
			return http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {f.key.Proof("GET", u, tok, time.Now())},
				"X-Fapi-Interaction-Id": {clientID}}
		}},
		{name: "the upstream's interaction id is replaced", path: "/v1/fapi/chatty", status: 200, id: clientID,
			hdr: func(u string) http.Header {
				tok := f.bound("ES256")
				return http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {f.key.Proof("GET", u, tok, time.Now())},
					"X-Fapi-Interaction-Id": {clientID}}
			}},
		{name: "certificate-bound token with its certificate", cert: true, status: 200, hdr: func(string) http.Header {
			tok := f.token("ES256", func(c map[string]any) {
				c["cnf"] = map[string]any{"x5t#S256": certbind.Thumbprint(f.cert.Certificate[0])}
			})
			return http.Header{"Authorization": {"Bearer " + tok}}
		}},
		{name: "unbound bearer token", status: 401, challenge: chUnbound, ptype: "invalid-credential", id: clientID,
			hdr: func(string) http.Header {
				return http.Header{"Authorization": {"Bearer " + f.token("ES256", nil)}, "X-Fapi-Interaction-Id": {clientID}}
			}},
		{name: "DPoP-bound token signed with RS256", status: 401, challenge: chBadToken, ptype: "invalid-credential",
			hdr: func(u string) http.Header {
				tok := f.bound("RS256")
				return http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {f.key.Proof("GET", u, tok, time.Now())}}
			}},
		{name: "proof signed with PS256, not in this route's algs", status: 401, challenge: chBadProof, ptype: "invalid-credential",
			hdr: func(u string) http.Header {
				ps, err := testissuer.NewDPoPKey("PS256")
				if err != nil {
					panic(err)
				}
				tok := f.token("ES256", func(c map[string]any) { ps.Bind(c) })
				return http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {ps.Proof("GET", u, tok, time.Now())}}
			}},
		{name: "token issued 20 s ahead (leeway 5 s)", status: 401, challenge: chBadToken, ptype: "invalid-credential",
			hdr: func(u string) http.Header {
				tok := f.token("ES256", func(c map[string]any) { f.key.Bind(c); c["iat"] = time.Now().Add(20 * time.Second).Unix() })
				return http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {f.key.Proof("GET", u, tok, time.Now())}}
			}},
		{name: "token in the query only", path: "/v1/fapi/accounts?access_token=x", status: 401, ptype: "unauthenticated",
			challenges: []string{fapiChallenge, `Bearer realm="portcullis"`},
			hdr:        func(string) http.Header { return http.Header{} }},
		{name: "malformed interaction id", status: 400, ptype: "invalid-interaction-id",
			hdr: func(string) http.Header { return http.Header{"X-Fapi-Interaction-Id": {"hello\tworld"}} }},
		{name: "two interaction ids", status: 400, ptype: "invalid-interaction-id",
			hdr: func(string) http.Header { return http.Header{"X-Fapi-Interaction-Id": {clientID, clientID}} }},
		{name: "FAPI route over the default listener", base: "plain", status: 403, ptype: "tls-profile-required", id: clientID,
			hdr: func(u string) http.Header {
				tok := f.bound("ES256")
				return http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {f.key.Proof("GET", u, tok, time.Now())},
					"X-Fapi-Interaction-Id": {clientID}}
			}},
	}
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		t.Run(proto, func(t *testing.T) {
			plain, withCert := f.client(t, proto), f.client(t, proto, f.cert)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					base, path, c := f.fapiURL, tt.path, plain
					if tt.base == "plain" {
						base = f.plainURL
					}
					if path == "" {
						path = "/v1/fapi/accounts"
					}
					if tt.cert {
						c = withCert
					}
					u, _, _ := strings.Cut(base+path, "?")
					req, _ := http.NewRequest("GET", base+path, nil)
					req.Header = tt.hdr(u)
					resp, err := c.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.Proto != proto {
						t.Fatalf("over %s, want %s", resp.Proto, proto)
					}
					if resp.StatusCode != tt.status {
						t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
					}
					ids := resp.Header.Values(fapi.InteractionHeader)
					switch {
					case len(ids) != 1:
						t.Fatalf("x-fapi-interaction-id = %q, want one", ids)
					case tt.id != "" && ids[0] != tt.id:
						t.Fatalf("x-fapi-interaction-id = %q, want %q", ids[0], tt.id)
					case tt.id == "" && (!fapi.ValidUUID(ids[0]) || ids[0] == clientID):
						t.Fatalf("x-fapi-interaction-id = %q, want a new UUID", ids[0])
					}
					want := tt.challenges
					if tt.challenge != "" {
						want = []string{tt.challenge}
					}
					if got := resp.Header.Values("Www-Authenticate"); !slices.Equal(got, want) {
						t.Errorf("WWW-Authenticate =\n  %q\nwant\n  %q", got, want)
					}
					if tt.status >= 400 {
						var p map[string]any
						if err := json.Unmarshal(body, &p); err != nil || p["type"] != "https://portcullis.dev/problems/"+tt.ptype {
							t.Errorf("problem %s, want type %s", body, tt.ptype)
						}
						return
					}
					if path == "/v1/fapi/accounts" {
						var e gatewaytest.Echo
						if err := json.Unmarshal(body, &e); err != nil {
							t.Fatal(err)
						}
						if got := e.Headers[fapi.InteractionHeader]; !slices.Equal(got, ids) {
							t.Errorf("upstream got interaction id %q, client %q", got, ids)
						}
					}
				})
			}
		})
	}
}

// The FAPI listener offers TLS 1.2 only with ECDHE and AES-GCM: a client
// that offers nothing else of TLS 1.2 (ChaCha20, CBC) fails the handshake
// there, while the default listener accepts ChaCha20.
func TestFAPITLSProfile(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name        string
		suite       uint16
		fapi, plain bool // handshake succeeds
	}{
		{"ECDHE-ECDSA-AES128-GCM", tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true, true},
		{"ECDHE-ECDSA-AES256-GCM", tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, true, true},
		{"ECDHE-ECDSA-CHACHA20-POLY1305", tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, false, true},
		{"ECDHE-ECDSA-AES128-CBC-SHA", tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, false, false},
	}
	dial := func(base string, suite uint16) error {
		addr := strings.TrimPrefix(base, "https://")
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: f.env.CA.Pool(), MinVersion: tls.VersionTLS12,
			MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err == nil {
			conn.Close()
		}
		return err
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := dial(f.fapiURL, tt.suite); (err == nil) != tt.fapi {
				t.Errorf("fapi2 listener: handshake error %v, want success %v", err, tt.fapi)
			}
			if err := dial(f.plainURL, tt.suite); (err == nil) != tt.plain {
				t.Errorf("default listener: handshake error %v, want success %v", err, tt.plain)
			}
		})
	}
}

// FuzzInteractionID: a client's x-fapi-interaction-id is echoed only when
// it is a UUID in text form, so nothing else a client sends ever reaches
// the response or the upstream through it.
func FuzzInteractionID(f *testing.F) {
	for _, s := range []string{"0f8fad5b-d9cb-469f-a165-70867728950e", "0F8FAD5B-D9CB-469F-A165-70867728950E", "hello", "0f8fad5b-d9cb-469f-a165-70867728950\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !fapi.ValidUUID(s) {
			return
		}
		if len(s) != 36 || strings.Trim(s, "0123456789abcdefABCDEF-") != "" || strings.Count(s, "-") != 4 {
			t.Fatalf("ValidUUID(%q)", s)
		}
	})
}

// New ids are version 4 UUIDs the validator accepts.
func TestNewUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := fapi.NewUUID()
		if !fapi.ValidUUID(id) || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) || seen[id] {
			t.Fatalf("NewUUID() = %q", id)
		}
		seen[id] = true
	}
}
