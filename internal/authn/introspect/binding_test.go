package introspect_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/testissuer"
	"github.com/portcullis/portcullis/internal/tokencache"
)

// An introspection response's cnf binds the opaque token like a JWT's
// does: a key-bound token passes only with the DPoP scheme and a proof of
// that key, a certificate-bound one only with its certificate, and the
// binding is checked again on every request the cached verdict serves.
func TestIntrospectedBindings(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	as := newAuthServer(t, env, "client_secret_basic", false)
	gw := env.Start(t, config(env, as, "client_secret_basic", "\n      dpop: {}"), gateway.Deps{TokenCache: tokencache.New(0, nil)})
	key, _ := testissuer.NewDPoPKey("EdDSA")
	thief, _ := testissuer.NewDPoPKey("EdDSA")
	active := func(cnf map[string]any) map[string]any {
		return map[string]any{"active": true, "sub": "alice", "client_id": "mobile-app", "scope": "accounts:read",
			"aud": []string{"payments-api"}, "exp": time.Now().Add(time.Hour).Unix(), "cnf": cnf}
	}
	as.set(func(as *authServer) {
		as.tokens["key-bound"] = active(map[string]any{"jkt": key.Thumbprint()})
		as.tokens["cert-bound"] = active(map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"})
	})
	url := gw.URL + "/v1/accounts"
	const dpopCh = `DPoP realm="portcullis", algs="ES256 PS256 EdDSA"`
	tests := []struct {
		name, scheme, tok string
		proofBy           *testissuer.DPoPKey
		status            int
		challenge         string
	}{
		{"key-bound token with its proof", "DPoP", "key-bound", key, 200, ""},
		{"cached verdict, as Bearer", "Bearer", "key-bound", nil, 401,
			dpopCh + `, error="invalid_token", error_description="The access token is bound to a key: send it with the DPoP scheme and a proof."`},
		{"cached verdict, proof by another key", "DPoP", "key-bound", thief, 401,
			dpopCh + `, error="invalid_token", error_description="The access token is not bound to the DPoP proof key."`},
		{"certificate-bound token without a certificate", "Bearer", "cert-bound", nil, 401,
			`Bearer realm="portcullis", error="invalid_token", error_description="The access token is not bound to the client certificate."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("Authorization", tt.scheme+" "+tt.tok)
			if tt.proofBy != nil {
				req.Header.Set("DPoP", tt.proofBy.Proof("GET", url, tt.tok, time.Now()))
			}
			r := gatewaytest.Do(t, env.Client(), req)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Body)
			}
			if got := r.Header.Values("Www-Authenticate"); tt.challenge != "" && !slices.Equal(got, []string{tt.challenge}) {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if r.Status == 200 {
				if m := r.Echo(t).Headers["X-Auth-Method"]; !slices.Equal(m, []string{"dpop"}) {
					t.Fatalf("upstream X-Auth-Method = %q", m)
				}
			}
		})
	}
	if n := as.calls.Load(); n != 2 {
		t.Fatalf("%d introspection calls, want 2 (one per token: the refusals were cache hits)", n)
	}
}
