package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/console"
)

// A client certificate that admin.client_certs maps to a role signs in
// without a token, through the admin API's own mapping; one it does not
// map, or none, does not. The session holds only while the connection
// presents that certificate, and a lift then needs no token to type.
func TestCertificateSignIn(t *testing.T) {
	g := startGateway(t)
	for _, tc := range []struct {
		name    string
		c       *http.Client
		offered bool
		status  int
	}{
		{"mapped certificate", g.certClient(t, "ops-laptop"), true, http.StatusSeeOther},
		{"unmapped certificate", g.certClient(t, "someone-else"), false, http.StatusUnauthorized},
		{"no certificate", g.client(t), false, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, page := do(t, tc.c, "GET", g.admin+"/console/login", nil)
			if got := strings.Contains(page, `id="signin-cert"`); got != tc.offered {
				t.Errorf("certificate sign-in offered = %v, want %v", got, tc.offered)
			}
			resp, body := do(t, tc.c, "POST", g.admin+"/console/login/cert", url.Values{}, "Sec-Fetch-Site", "same-origin")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			checkSecurityHeaders(t, tc.name, resp.Header)
			if tc.status != http.StatusSeeOther {
				if strings.Contains(resp.Header.Get("Set-Cookie"), console.CookieName+"=") && !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
					t.Fatal("a session cookie without a mapped certificate")
				}
				return
			}
			if !strings.Contains(resp.Header.Get("Set-Cookie"), "__Host-") || !strings.Contains(resp.Header.Get("Set-Cookie"), "HttpOnly") {
				t.Fatalf("Set-Cookie %q", resp.Header.Get("Set-Cookie"))
			}
			_, body = do(t, tc.c, "GET", g.admin+"/console/keys", nil)
			if !strings.Contains(body, "cert:cn=ops-laptop · <strong>operator</strong>") {
				t.Fatalf("signed-in page does not name the certificate actor: %s", body)
			}
		})
	}

	// The same cookie on a connection without the certificate is no
	// session: a stolen cookie alone is not enough.
	withCert := g.certClient(t, "ops-laptop")
	do(t, withCert, "POST", g.admin+"/console/login/cert", url.Values{}, "Sec-Fetch-Site", "same-origin")
	u, _ := url.Parse(g.admin)
	thief := g.client(t)
	thief.Jar.SetCookies(u, withCert.Jar.Cookies(u))
	if resp, _ := do(t, thief, "GET", g.admin+"/console/keys", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
		t.Fatalf("the certificate session's cookie without the certificate: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Lifting as the certificate actor: no token field, a reason still.
	id := g.stuffCredentials(t)
	c := g.certClient(t, "ops-laptop")
	do(t, c, "POST", g.admin+"/console/login/cert", url.Values{}, "Sec-Fetch-Site", "same-origin")
	_, form := do(t, c, "GET", g.admin+"/console/security/blocks/"+id+"/lift", nil)
	if strings.Contains(form, `id="token"`) || !strings.Contains(form, `id="reason"`) {
		t.Fatalf("lift form for a certificate session: %s", form)
	}
	resp, body := do(t, c, "POST", g.admin+"/console/security/blocks/"+id+"/lift", url.Values{"reason": {"false positive"}}, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther || g.blockInForce(id) {
		t.Fatalf("lift by certificate: %d %s", resp.StatusCode, body)
	}
	evs, err := g.p.Keys.ListAudit(context.Background(), 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, ev := range evs {
		if ev.Actor == "cert:cn=ops-laptop" && ev.Role == "operator" {
			seen[ev.Action]++
		}
	}
	if seen["console.login"] != 3 || seen["security.block.lift"] != 1 || seen["console.reauth"] != 1 {
		t.Errorf("audit events of the certificate actor: %v", seen)
	}
}
