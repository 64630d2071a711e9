package server_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
)

const mtlsConfig = `
listeners:
  - name: public
    address: "127.0.0.1:0"
    tls:
      cert_file: "{{CERT}}"
      key_file: "{{KEY}}"
      client_auth: require
      client_ca_file: "{{CLIENTCA}}"
      reload_interval: 1s
ops:
  address: "127.0.0.1:0"
upstreams:
  - name: api
    targets: ["{{UP}}"]
routes:
  - name: all
    prefix: /
    upstream: api
    auth: none
logging:
  access:
    enabled: false
`

func TestMTLSListener(t *testing.T) {
	clientCA, err := pki.NewCA("client CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, _ := pki.NewCA("other CA", time.Hour)
	caFile := t.TempDir() + "/clients.pem"
	if err := clientCA.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	up := newUpstream(t, nil)
	g := startGateway(t, mtlsConfig, map[string]string{"UP": up.URL, "CLIENTCA": caFile})

	good, _ := clientCA.Issue(pki.LeafOptions{CommonName: "partner-1", Client: true})
	wrong, _ := otherCA.Issue(pki.LeafOptions{CommonName: "intruder", Client: true})
	expired, _ := clientCA.Issue(pki.LeafOptions{CommonName: "old", Client: true,
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	tests := []struct {
		name string
		cert *pki.Leaf
		ok   bool
	}{
		{"right CA", good, true},
		{"wrong CA", wrong, false},
		{"expired", expired, false},
		{"no certificate", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: g.ca.Pool()}
			if tt.cert != nil {
				cfg.Certificates = []tls.Certificate{tt.cert.TLS}
			}
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
			defer c.CloseIdleConnections()
			resp, err := c.Get(g.base + "/x")
			if !tt.ok {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("got %d; want the handshake to fail", resp.StatusCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		})
	}
}

// TestCertificateHotReload replaces the certificate files and expects new
// handshakes to present the new certificate without a restart.
func TestCertificateHotReload(t *testing.T) {
	up := newUpstream(t, nil)
	clientCA, _ := pki.NewCA("client CA", time.Hour)
	caFile := t.TempDir() + "/clients.pem"
	_ = clientCA.WriteFile(caFile)
	g := startGateway(t, mtlsConfig, map[string]string{"UP": up.URL, "CLIENTCA": caFile})
	clientCert, _ := clientCA.Issue(pki.LeafOptions{CommonName: "c", Client: true})

	serial := func() string {
		conn, err := tls.Dial("tcp", g.base[len("https://"):], &tls.Config{
			RootCAs: g.ca.Pool(), Certificates: []tls.Certificate{clientCert.TLS},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	ops := "http://" + g.srv.Addr("ops")
	expiryLine := func(notAfter time.Time) string {
		return `portcullis_tls_certificate_expiry_timestamp_seconds{listener="public"} ` + strconv.FormatFloat(float64(notAfter.Unix()), 'g', -1, 64)
	}
	conn, err := tls.Dial("tcp", g.base[len("https://"):], &tls.Config{RootCAs: g.ca.Pool(), Certificates: []tls.Certificate{clientCert.TLS}})
	if err != nil {
		t.Fatal(err)
	}
	firstNotAfter := conn.ConnectionState().PeerCertificates[0].NotAfter
	conn.Close()
	waitMetric(t, ops, expiryLine(firstNotAfter))

	// Later than the first certificate (issued for 90 days), so the
	// metric must change.
	renewedNotAfter := time.Now().Add(200 * 24 * time.Hour).Truncate(time.Second)
	next, err := g.ca.Issue(pki.LeafOptions{CommonName: "gateway-renewed", Hosts: []string{"127.0.0.1"}, NotAfter: renewedNotAfter})
	if err != nil {
		t.Fatal(err)
	}
	// Write the key first, then the certificate: a watcher that sees the
	// half-updated pair must keep the old one, not fail.
	if err := os.WriteFile(g.dir+"/server.key", next.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.dir+"/server.crt", next.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	want := next.Cert.SerialNumber.String()
	got := before
	for i := 0; i < 60 && got != want; i++ { // the watcher polls every 1s
		time.Sleep(100 * time.Millisecond)
		got = serial()
	}
	if got != want {
		t.Fatalf("certificate not reloaded: serial %s, want %s (was %s)", got, want, before)
	}
	// The expiry metric follows the certificate in use.
	waitMetric(t, ops, expiryLine(renewedNotAfter))
}

func TestOpsEndpoints(t *testing.T) {
	up := newUpstream(t, nil)
	doc := gatewayHead + `    health_check:
      path: /healthz
      interval: 100ms
      timeout: 50ms
      unhealthy_threshold: 1
      healthy_threshold: 1
routes:
  - name: all
    prefix: /
    upstream: api
    auth: none
logging:
  access:
    enabled: false
`
	g := startGateway(t, doc, map[string]string{"UP": up.URL})
	ops := "http://" + g.srv.Addr("ops")
	get := func(path string) (int, string) {
		resp, err := http.Get(ops + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "{\"status\":\"ok\"}\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Fatalf("readyz %d %q", code, body)
	}
	_, _ = g.get("/x")
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, `portcullis_requests_total{code="200",method="GET",route="all"} 1`) {
		t.Fatalf("metrics %d missing request counter", code)
	}
	if code, _ := get("/debug/pprof/"); code != 404 {
		t.Fatalf("pprof served without being enabled: %d", code)
	}
	up.Close() // the only target goes down: health checks mark it unhealthy
	var code int
	var body string
	for i := 0; i < 100; i++ {
		if code, body = get("/readyz"); code == 503 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != 503 || body != "{\"problems\":{\"upstream:api\":\"no healthy target\"},\"status\":\"not ready\"}\n" {
		t.Fatalf("readyz after upstream died: %d %q", code, body)
	}
}
