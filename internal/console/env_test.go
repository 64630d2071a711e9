package console_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
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
	upstreamCalls chan struct{}
}

func randB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func startGateway(t testing.TB) *gw {
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
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(up.Close)
	doc := fmt.Sprintf(`
listeners: [{name: public, address: "127.0.0.1:0", insecure: true}]
ops: {disabled: true}
upstreams: [{name: api, targets: ["%s"]}]
routes: [{name: r, prefix: /, upstream: api, auth: {authenticators: [keys]}}]
authenticators: [{name: keys, api_key: {}}]
logging: {access: {enabled: false}}
keys:
  store: {path: "%s"}
  cache: {ttl: 1s}
admin:
  enabled: true
  address: "127.0.0.1:0"
  tls: {cert_file: "%s", key_file: "%s"}
`, up.URL, filepath.Join(dir, "keys.db"), certFile, keyFile)
	cfg, err := config.Parse([]byte(doc), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"PORTCULLIS_PEPPER": randB64(40), "PORTCULLIS_MASTER_KEY": "v1:" + randB64(32)}
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
		tokens:  map[string]string{}, tokenIDs: map[string]string{}}
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
	return g
}

// browserless is an HTTPS client for the admin listener with a cookie jar
// and no redirects followed, so each answer can be checked.
func (g *gw) client(t testing.TB) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: g.tlsConf, ForceAttemptHTTP2: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
