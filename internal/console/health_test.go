package console_test

import (
	"strings"
	"testing"
	"time"
)

// The health page shows each TLS listener's certificate expiry, read from
// the certificate served now (the expiry metric's source), warns when it
// is close, and lists each route's rate-limit policies.
func TestHealthCertificatesAndRateLimits(t *testing.T) {
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
	if want := "<tr><td>r</td><td><code>per-consumer</code></td><td>1000 per 1m0s (burst 2000); quota 100000 per day</td><td>consumer</td></tr>"; !strings.Contains(body, want) {
		t.Errorf("health page lacks the route's rate limit %q", want)
	}
	if strings.Contains(body, "renew soon") {
		t.Error("a 90-day certificate is flagged")
	}
}
