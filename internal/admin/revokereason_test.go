package admin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/keys"
)

// A revocation may say why: the reason is in the key.revoke audit event,
// part of its hash (the chain still verifies); a reason the trail should
// not hold is refused and the key stays active.
func TestRevokeReason(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		body   any
		status int
		reason string
	}{
		{"no body", nil, http.StatusOK, ""},
		{"with a reason", map[string]string{"reason": "laptop stolen"}, http.StatusOK, "laptop stolen"},
		{"too long", map[string]string{"reason": strings.Repeat("x", 501)}, http.StatusBadRequest, ""},
		{"control characters", map[string]string{"reason": "ok\nforged line"}, http.StatusBadRequest, ""},
		{"unknown field", map[string]string{"why": "x"}, http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.key()
			r := e.do("operator", "POST", "/v1/keys/"+id+"/revoke", tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			k, err := e.svc.GetKey(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{true: keys.StateRevoked, false: keys.StateActive}[tc.status == http.StatusOK]; k.State != want {
				t.Fatalf("state %s, want %s", k.State, want)
			}
			if tc.status != http.StatusOK {
				return
			}
			evs, err := e.svc.ListAudit(context.Background(), 0, 10_000)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, ev := range evs {
				if ev.Action == "key.revoke" && ev.Target == "key:"+id {
					found = true
					if ev.Reason != tc.reason {
						t.Fatalf("audit reason %q, want %q", ev.Reason, tc.reason)
					}
				}
			}
			if !found {
				t.Fatal("no key.revoke event")
			}
		})
	}
	if n, err := e.svc.VerifyAudit(context.Background()); err != nil || n == 0 {
		t.Fatalf("chain after revocations with reasons: %d %v", n, err)
	}
}
