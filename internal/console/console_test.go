package console_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/console"
	"github.com/portcullis/portcullis/internal/keys"
)

func do(t *testing.T, c *http.Client, method, u string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// signIn signs c in with role's token and returns the session cookie.
func (g *gw) signIn(t *testing.T, c *http.Client, role string) *http.Cookie {
	t.Helper()
	resp, body := do(t, c, "POST", g.admin+"/console/login", url.Values{"token": {g.tokens[role]}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/keys" {
		t.Fatalf("sign in as %s: %d %q %s", role, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == console.CookieName {
			return ck
		}
	}
	t.Fatalf("sign in set no %s cookie: %v", console.CookieName, resp.Header["Set-Cookie"])
	return nil
}

func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": console.CSP,
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// Every console answer carries the security headers: pages, assets,
// redirects, errors, refusals.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	g := startGateway(t)
	signed := g.client(t)
	g.signIn(t, signed, "admin")
	anon := g.client(t)
	for _, tc := range []struct {
		name   string
		c      *http.Client
		method string
		path   string
		form   url.Values
		hdr    []string
		status int
	}{
		{"login page", anon, "GET", "/console/login", nil, nil, 200},
		{"home redirect", anon, "GET", "/console/", nil, nil, 303},
		{"keys without session", anon, "GET", "/console/keys", nil, nil, 303},
		{"stylesheet", anon, "GET", "/console/static/console.css", nil, nil, 200},
		{"script", anon, "GET", "/console/static/console.js", nil, nil, 200},
		{"unknown page", anon, "GET", "/console/nope", nil, nil, 404},
		{"bad sign in", anon, "POST", "/console/login", url.Values{"token": {"pcl_admin_nope"}}, nil, 401},
		{"cross-site post", signed, "POST", "/console/consumers", url.Values{"name": {"x"}}, []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"keys", signed, "GET", "/console/keys", nil, nil, 200},
		{"consumers", signed, "GET", "/console/consumers", nil, nil, 200},
		{"audit", signed, "GET", "/console/audit", nil, nil, 200},
		{"audit export", signed, "GET", "/console/audit/export", nil, nil, 200},
		{"health", signed, "GET", "/console/health", nil, nil, 200},
		{"security", signed, "GET", "/console/security", nil, nil, 200},
		{"security bad filter", signed, "GET", "/console/security?client_ip=x", nil, nil, 400},
		{"lift of no block", signed, "GET", "/console/security/blocks/AAAAAAAAAAAA/lift", nil, nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.c, tc.method, g.admin+tc.path, tc.form, tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			checkSecurityHeaders(t, tc.name, resp.Header)
			if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
				t.Errorf("inline script or style in %s", tc.path)
			}
		})
	}
}

// Sign-in gives a __Host- cookie that scripts cannot read and other sites
// do not send, holding 256 random bits; sign-out ends the session.
func TestSessionCookieAndSignOut(t *testing.T) {
	g := startGateway(t)
	c := g.client(t)
	resp, _ := do(t, c, "POST", g.admin+"/console/login", url.Values{"token": {g.tokens["admin"]}})
	raw := resp.Header.Get("Set-Cookie")
	for _, attr := range []string{console.CookieName + "=", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"} {
		if !strings.Contains(raw, attr) {
			t.Errorf("Set-Cookie %q lacks %s", raw, attr)
		}
	}
	if strings.Contains(strings.ToLower(raw), "domain=") {
		t.Errorf("Set-Cookie %q has a Domain (a __Host- cookie must not)", raw)
	}
	ck := resp.Cookies()[0]
	if b, err := base64.RawURLEncoding.DecodeString(ck.Value); err != nil || len(b) != 32 {
		t.Errorf("session id %q is not 256 bits", ck.Value)
	}
	if resp, _ := do(t, c, "GET", g.admin+"/console/keys", nil); resp.StatusCode != 200 {
		t.Fatalf("signed in: keys %d", resp.StatusCode)
	}
	resp, _ = do(t, c, "POST", g.admin+"/console/logout", url.Values{}, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign out: %d %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	// The old cookie, replayed, is dead on the server too.
	replay := g.client(t)
	u, _ := url.Parse(g.admin)
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: console.CookieName, Value: ck.Value, Path: "/", Secure: true}})
	if resp, _ := do(t, replay, "GET", g.admin+"/console/keys", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
		t.Fatalf("replayed cookie after sign out: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// A session ends as soon as its admin token is revoked: the token is
// checked against the store on every request.
func TestSessionEndsWhenTokenRevoked(t *testing.T) {
	g := startGateway(t)
	c := g.client(t)
	g.signIn(t, c, "operator")
	if resp, _ := do(t, c, "GET", g.admin+"/console/keys", nil); resp.StatusCode != 200 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	if _, err := g.p.Keys.RevokeAdminToken(context.Background(), g.tokenIDs["operator"]); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, c, "GET", g.admin+"/console/keys", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/login" {
		t.Fatalf("after revocation: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// Sign-in failures count in the admin API's own lockout: past the
// threshold even the right token is refused from that address.
func TestSignInLockout(t *testing.T) {
	g := startGateway(t)
	c := g.client(t)
	for i := range config10 {
		resp, _ := do(t, c, "POST", g.admin+"/console/login", url.Values{"token": {"pcl_admin_wrong"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := do(t, c, "POST", g.admin+"/console/login", url.Values{"token": {g.tokens["admin"]}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after the threshold: %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, `role="alert"`) {
		t.Errorf("the refusal is not shown: %s", body)
	}
	// The API shares the lockout: the same address is blocked there too.
	req, _ := http.NewRequest("GET", g.admin+"/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+g.tokens["admin"])
	api, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	api.Body.Close()
	if api.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("API after console failures: %d", api.StatusCode)
	}
}

const config10 = 10 // admin.auth_failure_threshold's default

// A cross-site form post is refused before it reaches the API, even with
// a valid session cookie attached.
func TestCrossSitePostRefused(t *testing.T) {
	g := startGateway(t)
	c := g.client(t)
	g.signIn(t, c, "admin")
	for _, site := range []string{"cross-site", "same-site"} {
		t.Run(site, func(t *testing.T) {
			resp, body := do(t, c, "POST", g.admin+"/console/consumers", url.Values{"name": {"evil-" + site}}, "Sec-Fetch-Site", site)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Cross-origin request refused") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}
	list, _, err := g.p.Keys.ListConsumers(context.Background(), "", 10)
	if err != nil || len(list) != 0 {
		t.Fatalf("consumers after refused posts: %v %v", list, err)
	}
}

// Controls a role may not use are absent, and the API still refuses the
// operation when it is posted anyway.
func TestRoleAwareControls(t *testing.T) {
	g := startGateway(t)
	ctx := context.Background()
	cons, err := g.p.Keys.CreateConsumer(ctx, keys.ConsumerSpec{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := g.p.Keys.IssueKey(ctx, keys.KeySpec{ConsumerID: cons.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		role                   string
		revoke, issue, auditOK bool
	}{
		{"admin", true, true, true},
		{"operator", true, true, false},
		{"auditor", false, false, true},
	} {
		t.Run(tc.role, func(t *testing.T) {
			c := g.client(t)
			g.signIn(t, c, tc.role)
			_, body := do(t, c, "GET", g.admin+"/console/keys", nil)
			if got := strings.Contains(body, `id="revoke-`+iss.Key.ID+`"`); got != tc.revoke {
				t.Errorf("revoke control shown = %v, want %v", got, tc.revoke)
			}
			if got := strings.Contains(body, "Issue a key"); got != tc.issue {
				t.Errorf("issue form shown = %v, want %v", got, tc.issue)
			}
			if got := strings.Contains(body, `href="/console/audit"`); got != tc.auditOK {
				t.Errorf("audit link shown = %v, want %v", got, tc.auditOK)
			}
			if !tc.revoke {
				resp, body := do(t, c, "POST", g.admin+"/console/keys/"+iss.Key.ID+"/revoke",
					url.Values{"reason": {"test"}, "token": {g.tokens[tc.role]}}, "Sec-Fetch-Site", "same-origin")
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Your role does not allow this operation.") {
					t.Fatalf("posted revoke as %s: %d %s", tc.role, resp.StatusCode, body)
				}
			}
			if !tc.auditOK {
				if resp, _ := do(t, c, "GET", g.admin+"/console/audit", nil); resp.StatusCode != http.StatusForbidden {
					t.Fatalf("audit page as %s: %d", tc.role, resp.StatusCode)
				}
			}
		})
	}
	k, err := g.p.Keys.GetKey(ctx, iss.Key.ID)
	if err != nil || k.State != keys.StateActive {
		t.Fatalf("key after the auditor's attempt: %+v %v", k, err)
	}
}

// Sessions live in the key store: signed in on one admin instance, the
// same cookie works on another instance of the same PostgreSQL store, and
// revoking the token ends it on both.
func TestSessionAcrossAdminInstances(t *testing.T) {
	dsn := pg.Database(t)
	secrets := map[string]string{"PORTCULLIS_PEPPER": randB64(40), "PORTCULLIS_MASTER_KEY": "v1:" + randB64(32)}
	store := fmt.Sprintf("{driver: postgres, dsn: %q}", dsn)
	one := startGatewayOn(t, store, secrets)
	one.bootstrap(t)
	two := startGatewayOn(t, store, secrets)
	ck := one.signIn(t, one.client(t), "operator")
	onTwo := two.client(t)
	u, _ := url.Parse(two.admin)
	onTwo.Jar.SetCookies(u, []*http.Cookie{ck})
	if resp, body := do(t, onTwo, "GET", two.admin+"/console/keys", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "operator") {
		t.Fatalf("the session on the other instance: %d", resp.StatusCode)
	}
	if _, err := one.p.Keys.RevokeAdminToken(context.Background(), one.tokenIDs["operator"]); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, onTwo, "GET", two.admin+"/console/keys", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after revocation on the other instance: %d, want 303 to sign in", resp.StatusCode)
	}
}
