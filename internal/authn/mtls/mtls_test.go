package mtls_test

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/testenv"
)

func issue(t *testing.T, ca *pki.CA, o pki.LeafOptions) *pki.Leaf {
	t.Helper()
	o.Client = true
	l, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func writeCRL(t *testing.T, ca *pki.CA, path string, revoked ...*pki.Leaf) {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, l := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: l.Cert.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour),
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func pin(l *pki.Leaf) string {
	s := sha256.Sum256(l.Cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(s[:])
}

func TestMTLS(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	ca := env.CA
	partner := issue(t, ca, pki.LeafOptions{CommonName: "partner-a"})
	stranger := issue(t, ca, pki.LeafOptions{CommonName: "stranger"})
	spiffe := issue(t, ca, pki.LeafOptions{CommonName: "svc", URIs: []string{"spiffe://bank.example/ledger"}})
	pinned := issue(t, ca, pki.LeafOptions{CommonName: "pinned"})
	revoked := issue(t, ca, pki.LeafOptions{CommonName: "partner-a"})
	shortLived := issue(t, ca, pki.LeafOptions{CommonName: "partner-a", NotAfter: time.Now().Add(time.Hour)})
	expired := issue(t, ca, pki.LeafOptions{CommonName: "partner-a", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	otherCA, err := pki.NewCA("Other CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign := issue(t, otherCA, pki.LeafOptions{CommonName: "partner-a"})
	crl := filepath.Join(env.Dir, "revoked.crl")
	writeCRL(t, ca, crl, revoked)

	clk := testenv.NewClock(time.Now())
	yaml := env.Base("optional") + `
authenticators:
  - name: partners
    mtls:
      common_names: [partner-a]
      uris: ["spiffe://bank.example/ledger"]
      spki_sha256: ["` + pin(pinned) + `"]
      crl_files: [` + crl + `]
      scopes: [accounts:read]
routes:
  - name: accounts
    path: /v1/accounts
    upstream: echo
    auth:
      authenticators: [partners]
      require:
        scopes:
          all_of: [accounts:read]
`
	gw := env.Start(t, yaml, gateway.Deps{Now: clk.Now})
	const rejected = `Certificate realm="portcullis", error="invalid_token", error_description="The client certificate is not accepted."`

	tests := []struct {
		name         string
		cert         *pki.Leaf
		advance      time.Duration
		status       int
		challenge    string
		consumer     string
		handshakeErr bool
	}{
		{"allowed by CN", partner, 0, 200, "", "partner-a", false},
		{"allowed by URI SAN", spiffe, 0, 200, "", "svc", false},
		{"allowed by SPKI pin", pinned, 0, 200, "", "pinned", false},
		{"right CA, not in the allow-list", stranger, 0, 401, rejected, "", false},
		{"revoked", revoked, 0, 401, rejected, "", false},
		{"no certificate", nil, 0, 401, `Certificate realm="portcullis"`, "", false},
		{"wrong CA", foreign, 0, 0, "", "", true},
		{"expired", expired, 0, 0, "", "", true},
		{"expired since the handshake (gateway clock)", shortLived, 2 * time.Hour, 401, rejected, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Set(time.Now().Add(tt.advance))
			c := env.Client()
			if tt.cert != nil {
				// Present the certificate whatever CAs the server asks
				// for, as an attacker would.
				cert := tt.cert.TLS
				c.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					return &cert, nil
				}
			}
			req, _ := http.NewRequest("GET", gw.URL+"/v1/accounts", nil)
			resp, err := c.Do(req)
			if tt.handshakeErr {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("handshake succeeded with status %d, want a TLS error", resp.StatusCode)
				}
				if !strings.Contains(err.Error(), "tls") && !strings.Contains(err.Error(), "certificate") {
					t.Fatalf("error = %v, want a TLS alert", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			r := gatewaytest.Do(t, c, req)
			if r.Status != tt.status || r.Header.Get("WWW-Authenticate") != tt.challenge {
				t.Fatalf("got %d %q, want %d %q; %s", r.Status, r.Header.Get("WWW-Authenticate"), tt.status, tt.challenge, r.Body)
			}
			if tt.status == 200 {
				e := r.Echo(t)
				if got := e.Headers["X-Consumer-Id"]; len(got) != 1 || got[0] != tt.consumer || e.Headers["X-Auth-Method"][0] != "mtls" {
					t.Fatalf("upstream identity: %v", e.Headers)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	otherCA, _ := pki.NewCA("Other", time.Hour)
	crl := filepath.Join(env.Dir, "foreign.crl")
	writeCRL(t, otherCA, crl)
	tests := []struct {
		name, clientAuth, block string
		want                    []string
	}{
		{"no listener asks for certificates", "none", `common_names: [a]`,
			[]string{"authenticators[0].mtls: no listener asks for client certificates"}},
		{"no allow-list", "require", `scopes: [a]`,
			[]string{"authenticators[0].mtls: needs at least one of common_names"}},
		{"bad pin and consumer_from", "require", "spki_sha256: [nope]\n      consumer_from: cn",
			[]string{"authenticators[0].mtls.spki_sha256[0]: must be the base64", `authenticators[0].mtls.consumer_from: must be one of`}},
		{"CRL check interval", "require", "common_names: [a]\n      crl_check_interval: 100ms",
			[]string{"authenticators[0].mtls.crl_check_interval: must be between 1s and 1h"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := env.Base(tt.clientAuth) + `
authenticators:
  - name: m
    mtls:
      ` + tt.block + `
routes:
  - {name: r, path: /, upstream: echo, auth: {authenticators: [m]}}
`
			_, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	t.Run("CRL not signed by a client CA", func(t *testing.T) {
		cfg := gatewaytest.Parse(t, env.Base("require")+`
authenticators:
  - name: m
    mtls:
      common_names: [a]
      crl_files: [`+crl+`]
routes:
  - {name: r, path: /, upstream: echo, auth: {authenticators: [m]}}
`)
		_, err := gateway.Build(cfg, gateway.Deps{})
		if err == nil || !strings.Contains(err.Error(), "authenticators[0].mtls.crl_files[0]: ") || !strings.Contains(err.Error(), "not signed by a CA in any listener's client_ca_file") {
			t.Fatalf("err = %v", err)
		}
	})
}

// A CRL file that changes is read again at the next check, without a
// reload; one that breaks keeps the lists in force.
func TestCRLReloadedWithoutRestart(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	partner := issue(t, env.CA, pki.LeafOptions{CommonName: "partner-a"})
	crl := filepath.Join(env.Dir, "partners.crl")
	writeCRL(t, env.CA, crl)
	clk := testenv.NewClock(time.Now())
	var logs testenv.SyncBuffer
	yaml := env.Base("optional") + `
authenticators:
  - name: partners
    mtls:
      common_names: [partner-a]
      crl_files: [` + crl + `]
      crl_check_interval: 1s
routes:
  - name: accounts
    path: /v1/accounts
    upstream: echo
    auth:
      authenticators: [partners]
`
	gw := env.Start(t, yaml, gateway.Deps{Now: clk.Now, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	c := env.Client()
	cert := partner.TLS
	c.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return &cert, nil
	}
	status := func() int {
		req, _ := http.NewRequest("GET", gw.URL+"/v1/accounts", nil)
		return gatewaytest.Do(t, c, req).Status
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		for range 300 {
			if ok() {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("still not %s after 3s", what)
	}
	if got := status(); got != 200 {
		t.Fatalf("before revocation: %d", got)
	}
	writeCRL(t, env.CA, crl, partner)
	if got := status(); got != 200 {
		t.Fatalf("revoked, before the next check is due: %d", got)
	}
	clk.Advance(2 * time.Second)
	until("revoked", func() bool { return status() == 401 })

	if err := os.WriteFile(crl, []byte("-----BEGIN X509 CRL-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	until("logged as not reloaded", func() bool {
		_ = status()
		return strings.Contains(logs.String(), "certificate revocation lists not reloaded")
	})
	if got := status(); got != 401 {
		t.Fatalf("with a broken CRL file: %d, want the previous lists to hold (401)", got)
	}
}
