package mtls_test

import (
	"crypto/tls"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/pki"
)

// A listener with client_auth: request asks for a certificate and verifies
// nothing, for certificate-bound tokens. The mtls authenticator never
// takes such a certificate, not even one its CA issued: on that listener
// the route answers as if none was sent, while the verifying listener
// accepts the same certificate.
func TestRequestListenerNeverAuthenticatesByCertificate(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	partner := issue(t, env.CA, pki.LeafOptions{CommonName: "partner-a"})
	self, err := pki.NewCA("partner-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	selfSigned := tls.Certificate{Certificate: [][]byte{self.Cert.Raw}, PrivateKey: self.Key}
	yaml := `
listeners:
  - name: public
    address: "127.0.0.1:0"
    tls: {cert_file: "` + env.CertFile + `", key_file: "` + env.KeyFile + `", client_auth: request}
  - name: verifying
    address: "127.0.0.1:0"
    tls: {cert_file: "` + env.CertFile + `", key_file: "` + env.KeyFile + `", client_auth: optional, client_ca_file: "` + env.CAFile + `"}
ops: {disabled: true}
logging: {level: error, access: {output: "` + env.AccessLog + `"}}
upstreams: [{name: echo, targets: ["` + env.Upstream + `"]}]
authenticators:
  - name: partners
    mtls: {common_names: [partner-a]}
routes:
  - {name: accounts, path: /v1/accounts, upstream: echo, auth: {authenticators: [partners]}}
`
	gw := env.Start(t, yaml, gateway.Deps{})
	verifying := "https://" + gw.Server.Addr("verifying")
	tests := []struct {
		name   string
		base   string
		cert   tls.Certificate
		status int
	}{
		{"CA-issued certificate, verifying listener", verifying, partner.TLS, 200},
		{"CA-issued certificate, request listener", gw.URL, partner.TLS, 401},
		{"self-signed certificate, request listener", gw.URL, selfSigned, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", tt.base+"/v1/accounts", nil)
			r := gatewaytest.Do(t, env.Client(tt.cert), req)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if got := r.Header.Values("Www-Authenticate"); tt.status == 401 && !slices.Equal(got, []string{`Certificate realm="portcullis"`}) {
				t.Fatalf("WWW-Authenticate = %q", got)
			}
		})
	}
}
