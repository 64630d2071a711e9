package sender_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/authn/certbind"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/testenv"
	"github.com/portcullis/portcullis/internal/testissuer"
)

// proxyAddr is the loopback address the tests' trusted proxy connects
// from; ordinary clients connect from 127.0.0.1, which is not trusted.
const proxyAddr = "127.0.0.2"

// Challenges the attack tables expect, exactly.
const (
	dpopChallenge   = `DPoP realm="portcullis", algs="ES256 PS256 EdDSA"`
	invalidProof    = dpopChallenge + `, error="invalid_dpop_proof", error_description="The DPoP proof is invalid."`
	noProof         = dpopChallenge + `, error="invalid_dpop_proof", error_description="A DPoP proof is required with a DPoP access token."`
	notBoundToKey   = dpopChallenge + `, error="invalid_token", error_description="The access token is not bound to the DPoP proof key."`
	boundAsBearer   = `error="invalid_token", error_description="The access token is bound to a key: send it with the DPoP scheme and a proof."`
	useNonce        = dpopChallenge + `, error="use_dpop_nonce", error_description="Resend the request with a DPoP proof that carries the nonce in the DPoP-Nonce response header."`
	notBoundToCert  = `Bearer realm="portcullis", error="invalid_token", error_description="The access token is not bound to the client certificate."`
	invalidTokenJWT = `Bearer realm="portcullis", error="invalid_token", error_description="The access token is invalid."`
)

// senderConfig has three jwt authenticators over the same issuer: dpop
// (DPoP accepted), dpop-nonce (DPoP with server nonces) and plain (no
// DPoP), a route for each, a listener that asks for (and does not verify)
// client certificates, and a trusted proxy that forwards certificates in
// X-SSL-Client-Cert.
const senderConfig = `
trusted_proxies: ["` + proxyAddr + `"]
client_cert_header: {name: X-SSL-Client-Cert, format: escaped_pem}
authenticators:
  - name: dpop
    jwt:
      issuers: [{issuer: "{{ISS}}", audiences: [api], jwks_file: "{{JWKS}}"}]
      dpop: {}
  - name: dpop-nonce
    jwt:
      issuers: [{issuer: "{{ISS}}", audiences: [api], jwks_file: "{{JWKS}}"}]
      dpop: {nonce: {secrets: [{file: "{{NONCE}}"}], period: 1m}}
  - name: plain
    jwt:
      issuers: [{issuer: "{{ISS}}", audiences: [api], jwks_file: "{{JWKS}}"}]
# The table sends one failure after another from one address.
rate_limits: {brute_force: {enabled: false}}
routes:
  - {name: dpop, path: /dpop, upstream: echo, auth: {authenticators: [dpop]}}
  - {name: nonce, path: /nonce, upstream: echo, auth: {authenticators: [dpop-nonce]}}
  - {name: plain, path: /plain, upstream: echo, auth: {authenticators: [plain]}}
`

// fixture is a running gateway with senderConfig, its issuer, its clock,
// and the keys and certificates of a client and an attacker.
type fixture struct {
	env    *gatewaytest.Env
	gw     *gatewaytest.Gateway
	issuer *testissuer.Issuer
	clock  *testenv.Clock
	// key is the client's DPoP key (ES256); other is an attacker's.
	key, other *testissuer.DPoPKey
	// cert is the client's self-signed certificate; otherCert another.
	cert, otherCert       tls.Certificate
	certPEM, otherCertPEM string
}

func newFixture(t *testing.T, deps gateway.Deps) *fixture {
	t.Helper()
	f := &fixture{env: gatewaytest.NewEnv(t), clock: testenv.NewClock(time.Now())}
	var err error
	if f.issuer, err = testissuer.New(testissuer.Options{CA: f.env.CA}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.issuer.Close() })
	if f.key, err = testissuer.NewDPoPKey("ES256"); err != nil {
		t.Fatal(err)
	}
	if f.other, err = testissuer.NewDPoPKey("ES256"); err != nil {
		t.Fatal(err)
	}
	f.cert, f.certPEM = selfSigned(t, "client-1")
	f.otherCert, f.otherCertPEM = selfSigned(t, "client-1")
	f.gw = f.env.Start(t, f.config(t, senderConfig), f.deps(deps))
	return f
}

func (f *fixture) deps(d gateway.Deps) gateway.Deps {
	if d.Now == nil {
		d.Now = f.clock.Now
	}
	return d
}

// config is the env's base (client_auth: request) with doc, its
// placeholders filled.
func (f *fixture) config(t *testing.T, doc string) string {
	t.Helper()
	jwksFile := filepath.Join(f.env.Dir, "jwks.json")
	if err := os.WriteFile(jwksFile, f.issuer.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	nonceFile := filepath.Join(f.env.Dir, "nonce-secret")
	if err := os.WriteFile(nonceFile, []byte(rand.Text()+rand.Text()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer("{{ISS}}", f.issuer.URL(), "{{JWKS}}", jwksFile, "{{NONCE}}", nonceFile)
	return f.env.Base("request") + r.Replace(doc)
}

// token is an ES256 access token for aud api with scope accounts:read,
// edited by edit (nil: none).
func (f *fixture) token(edit func(map[string]any)) string {
	c := f.issuer.Claims("api", "client-1", "accounts:read", f.clock.Now(), time.Hour)
	if edit != nil {
		edit(c)
	}
	return f.issuer.SignWith(f.issuer.KidFor("ES256"), c, nil)
}

// boundToKey is a token bound to the client's DPoP key.
func (f *fixture) boundToKey() string {
	return f.token(func(c map[string]any) { f.key.Bind(c) })
}

// boundToCert is a token bound to the client's certificate.
func (f *fixture) boundToCert() string {
	return f.token(func(c map[string]any) {
		c["cnf"] = map[string]any{"x5t#S256": certbind.Thumbprint(f.cert.Certificate[0])}
	})
}

// proof is a correct proof by the client's key for method at path.
func (f *fixture) proof(method, path, tok string) string {
	return f.key.Proof(method, f.gw.URL+path, tok, f.clock.Now())
}

// protocols are the HTTP versions every case runs over.
var protocols = []string{"HTTP/1.1", "HTTP/2.0"}

// client speaks proto to the gateway, presenting certs, dialling from
// local ("" for the default source address).
func (f *fixture) client(t *testing.T, proto, local string, certs ...tls.Certificate) *http.Client {
	t.Helper()
	var p http.Protocols
	if proto == "HTTP/2.0" {
		p.SetHTTP2(true)
	} else {
		p.SetHTTP1(true)
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: f.env.CA.Pool(), Certificates: certs, MinVersion: tls.VersionTLS12},
		Protocols:       &p,
	}
	if local != "" {
		tr.DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}).DialContext
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// send makes one request and checks it went over proto.
func send(t *testing.T, c *http.Client, proto, method, url string, h http.Header) gatewaytest.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if resp.Proto != proto {
		t.Fatalf("response over %s, want %s", resp.Proto, proto)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return gatewaytest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// hdr builds a header from name, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// selfSigned is a self-signed client certificate (as RFC 8705 §2.2
// allows) and its URL-encoded PEM, as nginx forwards it.
func selfSigned(t *testing.T, cn string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, url.PathEscape(string(p))
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
