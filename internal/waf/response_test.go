package waf_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
)

// Response inspection (CRS phases 3 and 4): a response leaking SQL errors
// is refused with 403 and never relayed; an ordinary one arrives whole;
// a body over the route's limit gets 502 (over_limit: refuse) or arrives
// uninspected (relay); routes without response inspection relay all. The
// upstream is asked for identity bodies when responses are inspected.
func TestResponseInspection(t *testing.T) {
	var gzipAsked atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "" {
			gzipAsked.Add(1)
		}
		w.Header().Set("Content-Type", "text/plain")
		switch {
		case strings.HasSuffix(r.URL.Path, "/leak"):
			_, _ = io.WriteString(w, "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax")
		case strings.HasSuffix(r.URL.Path, "/big"):
			_, _ = io.WriteString(w, strings.Repeat("a", 3000))
		default:
			_, _ = io.WriteString(w, "balance: 10.00 EUR")
		}
	}))
	t.Cleanup(up.Close)
	env := gatewaytest.NewEnv(t)
	env.Upstream = up.URL
	g := env.Start(t, env.Base("none")+`routes:
  - name: refuse
    prefix: /refuse
    upstream: echo
    auth: none
    waf: {response: {enabled: true, body_limit: 1KiB}}
  - name: relay
    prefix: /relay
    upstream: echo
    auth: none
    waf: {response: {enabled: true, body_limit: 1KiB, over_limit: relay}}
  - name: requests-only
    prefix: /requests
    upstream: echo
    auth: none
    waf: {}
`, gateway.Deps{})
	tests := []struct {
		path       string
		wantStatus int
		wantType   string
		wantBody   string
	}{
		{"/refuse/ok", 200, "", "balance: 10.00 EUR"},
		{"/refuse/leak", 403, "waf-blocked", ""},
		{"/refuse/big", 502, "bad-gateway", ""},
		{"/relay/big", 200, "", strings.Repeat("a", 3000)},
		{"/relay/leak", 403, "waf-blocked", ""},
		{"/requests/leak", 200, "", "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax"},
	}
	for proto, c := range clients(env) {
		for _, tc := range tests {
			t.Run(proto+tc.path, func(t *testing.T) {
				req, _ := http.NewRequest("GET", g.URL+tc.path, nil)
				req.Header.Set("Accept", "text/plain")
				req.Header.Set("User-Agent", "portcullis-test/1.0")
				resp := gatewaytest.Do(t, c, req)
				if resp.Status != tc.wantStatus {
					t.Fatalf("status %d, want %d: %s", resp.Status, tc.wantStatus, resp.Body)
				}
				if tc.wantType == "" {
					if string(resp.Body) != tc.wantBody {
						t.Fatalf("body %q", resp.Body)
					}
					return
				}
				p := resp.Problem(t)
				if p["type"] != "https://portcullis.dev/problems/"+tc.wantType || strings.Contains(string(resp.Body), "SQL syntax") {
					t.Fatalf("problem %s", resp.Body)
				}
			})
		}
	}
	// Go's client asks for gzip on HTTP/1.1 and HTTP/2; only the
	// requests-only route forwards it.
	if n := gzipAsked.Load(); n != 2 {
		t.Errorf("the upstream was asked for a compressed body %d times, want 2 (requests-only route)", n)
	}
}
