package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The security page lists the blocks a real detection imposed and the
// events behind them, filtered by the admin API; it carries the console's
// security headers and no inline script or style.
func TestSecurityPage(t *testing.T) {
	g := startGateway(t)
	id := g.stuffCredentials(t)
	c := g.client(t)
	g.signIn(t, c, "auditor")
	for _, tc := range []struct {
		name, query string
		status      int
		want, not   []string
	}{
		{"unfiltered", "", 200, []string{`id="block-` + id + `"`, "ip <code>127.0.0.2</code>", "credential_stuffing", "<td>auth_failure</td>", `href="/console/security" aria-current="page"`}, nil},
		{"by client ip", "?client_ip=127.0.0.2&type=detection", 200, []string{"<td>detection</td>", "<td>127.0.0.2</td>"}, []string{"<td>auth_failure</td>"}},
		{"by another ip", "?client_ip=192.0.2.1", 200, []string{`id="no-events"`, `id="block-` + id + `"`}, []string{"<td>127.0.0.2</td>"}},
		{"by consumer", "?consumer=nobody", 200, []string{`id="no-events"`}, nil},
		{"by route and type", "?route=r&type=auth_failure", 200, []string{"<td>auth_failure</td>"}, []string{"<td>detection</td>"}},
		{"since the future", "?since=2999-01-01T00:00", 200, []string{`id="no-events"`}, nil},
		{"until the past", "?until=2000-01-01T00:00", 200, []string{`id="no-events"`}, nil},
		{"bad ip", "?client_ip=not-an-ip", 400, []string{"client_ip: must be an IP address", `role="alert"`}, []string{`id="events"`}},
		{"bad type", "?type=nope", 400, []string{"type: must be a security event type"}, nil},
		{"bad time", "?since=yesterday", 400, []string{"since: must be an RFC 3339 time"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, c, "GET", g.admin+"/console/security"+tc.query, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			checkSecurityHeaders(t, tc.name, resp.Header)
			if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
				t.Error("inline script or style")
			}
			for _, s := range tc.want {
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(body, s) {
					t.Errorf("page has %q", s)
				}
			}
		})
	}
	// The lift form is the API's to refuse the auditor; an operator gets it.
	op := g.client(t)
	g.signIn(t, op, "operator")
	resp, body := do(t, op, "GET", g.admin+"/console/security/blocks/"+id+"/lift", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="confirm-lift"`) || !strings.Contains(body, `type="password"`) {
		t.Fatalf("lift form: %d %s", resp.StatusCode, body)
	}
	checkSecurityHeaders(t, "lift form", resp.Header)
	if resp, _ := do(t, op, "GET", g.admin+"/console/security/blocks/AAAAAAAAAAAA/lift", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("lift form of no block: %d", resp.StatusCode)
	}
}

// Lifting is for the roles the API lets lift: the auditor sees blocks but
// no lift control, and a lift it posts anyway is refused by the API.
func TestSecurityRoleAware(t *testing.T) {
	g := startGateway(t)
	id := g.stuffCredentials(t)
	for _, tc := range []struct {
		role string
		lift bool
	}{{"admin", true}, {"operator", true}, {"auditor", false}} {
		t.Run(tc.role, func(t *testing.T) {
			c := g.client(t)
			g.signIn(t, c, tc.role)
			_, body := do(t, c, "GET", g.admin+"/console/security", nil)
			if !strings.Contains(body, `id="block-`+id+`"`) || !strings.Contains(body, `href="/console/security"`) {
				t.Fatalf("%s does not see the block or the nav link", tc.role)
			}
			if got := strings.Contains(body, `id="lift-`+id+`"`); got != tc.lift {
				t.Errorf("lift control shown = %v, want %v", got, tc.lift)
			}
			if !tc.lift {
				resp, body := do(t, c, "POST", g.admin+"/console/security/blocks/"+id+"/lift",
					url.Values{"reason": {"test"}, "token": {g.tokens[tc.role]}}, "Sec-Fetch-Site", "same-origin")
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Your role does not allow this operation.") {
					t.Fatalf("posted lift as %s: %d %s", tc.role, resp.StatusCode, body)
				}
			}
		})
	}
	if !g.blockInForce(id) {
		t.Fatal("the block was lifted by the auditor's attempt")
	}
}

// A lift needs a reason and the signed-in token typed again (a left-open
// browser is not enough); it then runs through the admin API, whose
// security.block.lift audit event names the admin and keeps the reason.
func TestLiftBlockNeedsToken(t *testing.T) {
	g := startGateway(t)
	id := g.stuffCredentials(t)
	c := g.client(t)
	g.signIn(t, c, "operator")
	lift := func(form url.Values) (*http.Response, string) {
		return do(t, c, "POST", g.admin+"/console/security/blocks/"+id+"/lift", form, "Sec-Fetch-Site", "same-origin")
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		msg    string
	}{
		{"no reason", url.Values{"token": {g.tokens["operator"]}}, 400, "Give a reason"},
		{"no token", url.Values{"reason": {"false positive"}}, 401, "The admin token is invalid."},
		{"wrong token", url.Values{"reason": {"false positive"}, "token": {"pcl_admin_wrong"}}, 401, "The admin token is invalid."},
		{"another admin's token", url.Values{"reason": {"false positive"}, "token": {g.tokens["admin"]}}, 403, "Enter the admin token you signed in with."},
		{"cross-site", url.Values{"reason": {"x"}, "token": {g.tokens["operator"]}}, 403, "Cross-origin request refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			var body string
			if tc.name == "cross-site" {
				resp, body = do(t, c, "POST", g.admin+"/console/security/blocks/"+id+"/lift", tc.form, "Sec-Fetch-Site", "cross-site")
			} else {
				resp, body = lift(tc.form)
			}
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.msg) {
				t.Fatalf("%d, want %d with %q: %s", resp.StatusCode, tc.status, tc.msg, body)
			}
			checkSecurityHeaders(t, tc.name, resp.Header)
			if !g.blockInForce(id) {
				t.Fatal("the block was lifted")
			}
		})
	}
	resp, body := lift(url.Values{"reason": {"shared office NAT, confirmed"}, "token": {g.tokens["operator"]}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/security?done=lifted" {
		t.Fatalf("lift: %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if g.blockInForce(id) {
		t.Fatal("the block is still in force after the lift")
	}
	if _, body := do(t, c, "GET", g.admin+resp.Header.Get("Location"), nil); !strings.Contains(body, "The block was lifted") || strings.Contains(body, `id="block-`+id+`"`) {
		t.Errorf("the page after the lift: %s", body)
	}
	evs, err := g.p.Keys.ListAudit(context.Background(), 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var lifts, reauths int
	for _, ev := range evs {
		switch {
		case ev.Action == "security.block.lift" && ev.Outcome == "success":
			lifts++
			if ev.Actor != "token:"+g.tokenIDs["operator"] || ev.Role != "operator" || ev.Target != "block:"+id ||
				ev.Reason != "shared office NAT, confirmed" || ev.SourceIP != "127.0.0.1" {
				t.Errorf("lift audit event %+v", ev)
			}
		case ev.Action == "console.reauth":
			reauths++
		}
	}
	if lifts != 1 || reauths < 2 {
		t.Errorf("audit: %d successful lifts (want 1), %d re-authentications (want at least 2: operator's and admin's token)", lifts, reauths)
	}
}
