package admin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// Lifting a block may say why, as a revocation may: the reason is in the
// security.block.lift audit event; a reason the trail should not hold is
// refused and the block stays in force.
func TestLiftBlockReason(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		body   any
		status int
		reason string
	}{
		{"no body", nil, http.StatusNoContent, ""},
		{"with a reason", map[string]string{"reason": "customer's NAT, confirmed by phone"}, http.StatusNoContent, "customer's NAT, confirmed by phone"},
		{"too long", map[string]string{"reason": strings.Repeat("x", 501)}, http.StatusBadRequest, ""},
		{"control characters", map[string]string{"reason": "ok\nforged line"}, http.StatusBadRequest, ""},
		{"unknown field", map[string]string{"why": "x"}, http.StatusBadRequest, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := e.block()
			r := e.do("operator", "DELETE", "/v1/security/blocks/"+id, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			_, inForce := e.mon.Block(bg, id)
			if inForce != (tc.status != http.StatusNoContent) {
				t.Fatalf("block in force = %v after %d", inForce, r.status)
			}
			if tc.status != http.StatusNoContent {
				return
			}
			evs, err := e.svc.ListAudit(context.Background(), 0, 10_000)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, ev := range evs {
				if ev.Action == "security.block.lift" && ev.Target == "block:"+id {
					found = true
					if ev.Reason != tc.reason || ev.Actor == "" {
						t.Fatalf("audit event %+v, want reason %q and an actor", ev, tc.reason)
					}
				}
			}
			if !found {
				t.Fatal("no security.block.lift event")
			}
		})
	}
}
