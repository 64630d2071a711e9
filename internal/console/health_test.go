package console_test

import (
	"strings"
	"testing"
	"time"
)

// The health page shows each TLS listener's certificate expiry, read from
// the certificate served now (the expiry metric's source), and warns when
// it is close.
func TestHealthCertificateExpiry(t *testing.T) {
	g := startGateway(t)
	c := g.client(t)
	g.signIn(t, c, "auditor")
	resp, body := do(t, c, "GET", g.admin+"/console/health", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("health: %d", resp.StatusCode)
	}
	checkSecurityHeaders(t, "health", resp.Header)
	na := g.p.Admin.NotAfter().UTC().Format(time.RFC3339)
	// The test listener's certificate lives 90 days: listed, no warning.
	for _, want := range []string{`<tr id="cert-admin">`, `<time datetime="` + na + `">`, "<td>89</td>"} {
		if !strings.Contains(body, want) {
			t.Errorf("health page lacks %q", want)
		}
	}
	if strings.Contains(body, "renew soon") {
		t.Error("a 90-day certificate is flagged")
	}
}
