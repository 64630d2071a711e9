package admin_test

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/testenv"
)

// Failed token attempts from one IP block that IP's token attempts (even
// with a right token, so a guess that hits is not told apart), not its
// client certificates; requests without a credential do not count; the
// block ends with its time.
func TestFailedTokenAttemptsBlockTheIP(t *testing.T) {
	clk := testenv.NewClock(time.Now())
	e := newEnvWith(t, func(c *config.Admin, d *admin.Deps) {
		n := 3
		c.AuthFailureThreshold = &n
		d.Now = clk.Now
	})
	forged, _, _ := keys.Build(keys.KindAdmin, e.ids["admin"])
	e.tokens["forged"] = forged

	for i := range 5 {
		if r := e.do("", "GET", "/v1/consumers", nil); r.status != 401 {
			t.Fatalf("no credential %d: %d", i, r.status)
		}
	}
	for i := range 3 {
		if r := e.do("forged", "GET", "/v1/consumers", nil); r.status != 401 {
			t.Fatalf("wrong token %d: %d %s", i, r.status, r.body)
		}
	}
	for _, role := range []string{"forged", "admin"} {
		r := e.do(role, "GET", "/v1/consumers", nil)
		want := `{"type":"https://portcullis.dev/problems/blocked","title":"Too Many Requests","status":429,"detail":"Too many failed authentication attempts; try again later.","request_id":"` + r.header.Get("X-Request-Id") + `"}` + "\n"
		if r.status != 429 || r.header.Get("Retry-After") != "60" || string(r.body) != want ||
			r.header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s token while blocked: %d Retry-After=%q %s", role, r.status, r.header.Get("Retry-After"), r.body)
		}
	}
	if r := e.do("cert", "GET", "/v1/consumers", nil); r.status != 200 {
		t.Fatalf("client certificate while the IP is blocked: %d %s", r.status, r.body)
	}
	clk.Advance(61 * time.Second)
	if r := e.do("admin", "GET", "/v1/consumers", nil); r.status != 200 {
		t.Fatalf("after the block: %d %s", r.status, r.body)
	}
}
