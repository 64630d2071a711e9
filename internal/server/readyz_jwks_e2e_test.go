package server_test

import (
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/server"
	"github.com/portcullis/portcullis/internal/testenv"
	"github.com/portcullis/portcullis/internal/testissuer"
)

// /readyz follows the remote JWKS: not ready until it has loaded once (the
// instance could not verify a single token), ready once it has, degraded
// (still 200, old keys still verifying) when a later refresh fails, and
// never naming the JWKS URL.
func TestReadyzFollowsJWKS(t *testing.T) {
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = is.Close() })
	caFile := filepath.Join(t.TempDir(), "issuer-ca.pem")
	if err := is.CA.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	is.FailJWKS(http.StatusInternalServerError) // down before the gateway starts

	up := newUpstream(t, nil)
	doc := gatewayHead + `authenticators:
  - name: idp
    jwt:
      issuers:
        - issuer: "{{ISS}}"
          audiences: [api]
          jwks_url: "{{JWKS}}"
          ca_file: "{{ISSCA}}"
          refresh_interval: 5m
          min_refresh_interval: 1s
routes:
  - name: all
    prefix: /
    upstream: api
    auth: {authenticators: [idp]}
logging:
  access:
    enabled: false
`
	clk := testenv.NewClock(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC))
	g := startGatewayWith(t, doc, map[string]string{"UP": up.URL, "ISS": is.URL(), "JWKS": is.JWKSURL(), "ISSCA": caFile},
		server.Options{Deps: gateway.Deps{Now: clk.Now}})
	ops := "http://" + g.srv.Addr("ops")
	readyz := func() (int, string) {
		t.Helper()
		resp, err := http.Get(ops + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// waitReadyz polls (bounded) until /readyz answers exactly code and body.
	waitReadyz := func(step string, code int, body string) {
		t.Helper()
		var gotCode int
		var gotBody string
		for range 250 {
			if gotCode, gotBody = readyz(); gotCode == code && gotBody == body {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s: /readyz = %d %q, want %d %q", step, gotCode, gotBody, code, body)
	}
	call := func() int {
		t.Helper()
		tok := is.Sign(is.Claims("api", "alice", "", clk.Now(), time.Hour))
		resp, _ := g.get("/v1/x", "Authorization", "Bearer "+tok)
		return resp.StatusCode
	}
	key := `"jwks:` + is.URL() + `"`

	waitReadyz("before the first load", 503,
		`{"problems":{`+key+`:"keys never loaded: fetching jwks: status 500"},"status":"not ready"}`+"\n")
	if code := call(); code != 503 {
		t.Fatalf("token before the first load: %d, want 503", code)
	}

	// The issuer recovers: /readyz itself retries (after min_refresh_interval),
	// since an instance out of rotation gets no token that would.
	is.FailJWKS(0)
	clk.Advance(time.Second)
	waitReadyz("after the issuer recovered", 200, `{"status":"ready"}`+"\n")
	loadedAt := clk.Now()
	if code := call(); code != 200 {
		t.Fatalf("token after the first load: %d, want 200", code)
	}

	// A later refresh fails: the keys fetched before keep verifying.
	is.FailJWKS(http.StatusBadGateway)
	clk.Advance(5 * time.Minute) // stale: the next token starts a background refresh
	if code := call(); code != 200 {
		t.Fatalf("token while the refresh fails: %d, want 200", code)
	}
	waitReadyz("after a failed refresh", 200,
		`{"status":"degraded","warnings":{`+key+`:"refresh failed, serving the 3 keys fetched at `+
			loadedAt.Format(time.RFC3339)+`: fetching jwks: status 502"}}`+"\n")
	if code := call(); code != 200 {
		t.Fatalf("token while degraded: %d, want 200", code)
	}

	is.FailJWKS(0)
	clk.Advance(time.Second)
	waitReadyz("after the issuer recovered again", 200, `{"status":"ready"}`+"\n")
}
