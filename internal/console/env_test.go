package console_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/app"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/testenv"
)

// gw is a real gateway process, built as serve builds it: a public
// listener whose route takes API keys, a SQLite key store, the admin API
// on TLS with the console, and one admin token per role.
type gw struct {
	p             *app.Process
	admin, public string // base URLs
	tlsConf       *tls.Config
	tokens        map[string]string // role -> admin token text
	tokenIDs      map[string]string
	// ca issued the admin listener's certificate and is its client CA:
	// admin.client_certs maps CN ops-laptop to operator.
	ca            *pki.CA
	upstreamCalls chan struct{}
}

func randB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func TestMain(m *testing.M) { testenv.RunStopping(m, pg) }

// pg is the PostgreSQL server of the tests that need one (started on first
// use).
var pg = testenv.NewPostgres()

// startGateway starts a gateway on a SQLite key store of its own, with one
// admin token per role.
func startGateway(t testing.TB) *gw {
	t.Helper()
	secrets := map[string]string{"PORTCULLIS_PEPPER": randB64(40), "PORTCULLIS_MASTER_KEY": "v1:" + randB64(32)}
	g := startGatewayOn(t, fmt.Sprintf("{path: %q}", filepath.Join(t.TempDir(), "keys.db")), secrets)
	g.bootstrap(t)
	return g
}

// startGatewayOn starts a gateway on the key store storeYAML describes,
// with the key secrets given (instances sharing a store share them).
func startGatewayOn(t testing.TB, storeYAML string, secrets map[string]string) *gw {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("console test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "admin", Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := leaf.WriteFiles(dir, "admin")
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := ca.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(up.Close)
	doc := fmt.Sprintf(`
listeners: [{name: public, address: "127.0.0.1:0", insecure: true}]
ops: {disabled: true}
upstreams: [{name: api, targets: ["%s"]}]
routes: [{name: r, prefix: /, upstream: api, auth: {authenticators: [keys]}, rate_limits: [per-consumer]}]
rate_limits:
  policies: [{name: per-consumer, key: [consumer], rate: {limit: 1000, period: 1m, burst: 2000}, quota: {limit: 100000, period: day}}]
authenticators: [{name: keys, api_key: {}}]
logging: {access: {enabled: false}}
keys:
  store: %s
  cache: {ttl: 1s}
admin:
  enabled: true
  address: "127.0.0.1:0"
  tls: {cert_file: "%s", key_file: "%s", client_ca_file: "%s"}
  client_certs: [{common_name: ops-laptop, role: operator}]
`, up.URL, storeYAML, certFile, keyFile, caFile)
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	p, err := app.Build(cfg, app.Options{Env: func(k string) (string, bool) { v, ok := secrets[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gw{p: p, admin: "https://" + p.Admin.Addr(), public: "http://" + p.Server.Addr("public"),
		tlsConf: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS13},
		tokens:  map[string]string{}, tokenIDs: map[string]string{}, ca: ca}
	return g
}

// bootstrap mints the first admin token and one operator and auditor
// token.
func (g *gw) bootstrap(t testing.TB) {
	t.Helper()
	p := g.p
	ctx := context.Background()
	boot, err := p.Keys.Bootstrap(ctx, "first")
	if err != nil {
		t.Fatal(err)
	}
	g.tokens["admin"], g.tokenIDs["admin"] = boot.Secret, boot.Token.ID
	for _, role := range []string{"operator", "auditor"} {
		tok, err := p.Keys.CreateAdminToken(ctx, keys.AdminTokenSpec{Name: role, Role: role}, "test")
		if err != nil {
			t.Fatal(err)
		}
		g.tokens[role], g.tokenIDs[role] = tok.Secret, tok.Token.ID
	}
}

// browserless is an HTTPS client for the admin listener with a cookie jar
// and no redirects followed, so each answer can be checked.
func (g *gw) client(t testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: g.tlsConf, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// stuffCredentials is a real credential-stuffing burst: from 127.0.0.2,
// twelve well-formed API keys nobody was issued, through the public
// listener; the credential_stuffing detector (10 distinct credentials by
// default) blocks the address. It returns the block's id.
func (g *gw) stuffCredentials(t testing.TB) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	for range 12 {
		key, _, err := keys.Generate(keys.KindLive)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", g.public+"/accounts", nil)
		req.Header.Set("X-API-Key", key)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for range 1000 {
		for _, b := range g.p.Security.Blocks(context.Background()) {
			if b.Value == "127.0.0.2" {
				return b.ID
			}
		}
		time.Sleep(5 * time.Millisecond) // the monitor's goroutine imposes it
	}
	t.Fatal("the credential-stuffing burst from 127.0.0.2 imposed no block")
	return ""
}

// blockInForce reports whether the block id is still in force.
func (g *gw) blockInForce(id string) bool {
	_, ok := g.p.Security.Block(context.Background(), id)
	return ok
}

// certClient is client, presenting a client certificate for cn from the
// test CA on its TLS connections.
func (g *gw) certClient(t testing.TB, cn string) *http.Client {
	t.Helper()
	leaf, err := g.ca.Issue(pki.LeafOptions{CommonName: cn, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := g.client(t)
	conf := g.tlsConf.Clone()
	conf.Certificates = []tls.Certificate{pair}
	c.Transport = &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}
	return c
}
