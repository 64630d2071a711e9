package jwt_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/testenv"
	"github.com/portcullis/portcullis/internal/testissuer"
	"github.com/portcullis/portcullis/internal/tokencache"
)

// An explicit `leeway: 0s` means no clock skew: a token that expired a
// second ago is refused. (It once became the 30s default.)
func TestExplicitZeroLeeway(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = is.Close() })
	issuerCA := filepath.Join(env.Dir, "issuer-ca.crt")
	if err := is.CA.WriteFile(issuerCA); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	clk := testenv.NewClock(now)
	cfg := strings.Replace(jwtConfig(env, is, issuerCA), "leeway: 30s", "leeway: 0s", 1)
	gw := env.Start(t, cfg, gateway.Deps{JWKS: jwks.NewRegistry(nil, clk.Now), TokenCache: tokencache.New(0, clk.Now), Now: clk.Now})
	client := env.Client()

	tests := []struct {
		name   string
		expIn  time.Duration
		status int
	}{
		{"valid for another second", time.Second, http.StatusOK},
		{"expired a second ago", -time.Second, http.StatusUnauthorized},
		{"expired 20s ago (inside the old default leeway)", -20 * time.Second, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := is.Claims("payments-api", "alice", "accounts:read", now.Add(-time.Minute), time.Minute+tt.expIn)
			req, _ := http.NewRequest(http.MethodGet, gw.URL+"/v1/accounts", nil)
			req.Header.Set("Authorization", "Bearer "+is.Sign(c))
			resp := gatewaytest.Do(t, client, req)
			if resp.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.Status, tt.status, resp.Body)
			}
			if tt.status == http.StatusUnauthorized && resp.Header.Get("Www-Authenticate") != chExpired {
				t.Fatalf("WWW-Authenticate %q, want %q", resp.Header.Get("Www-Authenticate"), chExpired)
			}
		})
	}
}
