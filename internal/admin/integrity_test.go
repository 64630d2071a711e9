package admin_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/idempotency"
	"github.com/portcullis/portcullis/internal/sharedstate"
)

// Idempotency keys: an operator sees a key's state and resolves one in
// doubt; a key still in flight within its lease, or completed, cannot be
// resolved; every attempt is in the audit trail, never with the key's
// value.
func TestIdempotencyKeyResolution(t *testing.T) {
	e := newEnv(t)
	inFlight := func() map[string]any {
		consumer := fmt.Sprintf("c-%d", time.Now().UnixNano())
		owner := sharedstate.NewOwner()
		k := idempotency.StoreKey("https://idp.example.com", consumer, "pay-2")
		if _, ok, err := e.shared.Reserve(bg, k, owner, idempotency.ReservationMeta(idempotency.Fingerprint{2}, owner, time.Now().Add(time.Hour)), time.Hour); err != nil || !ok {
			t.Fatal(ok, err)
		}
		return map[string]any{"consumer": consumer, "issuer": "https://idp.example.com", "key": "pay-2"}
	}
	with := func(ref map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range ref {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	processed := map[string]any{"status": 201, "content_type": "application/json", "body": `{"id":"pay_1","status":"accepted"}`}
	cases := []struct {
		name       string
		path       string
		body       func() map[string]any
		wantStatus int
		wantBody   string // exact JSON for 200s, problem type otherwise
	}{
		{"lookup in doubt", "lookup", func() map[string]any { return e.inDoubt() }, 200,
			`{"state":"in-doubt","reason":"timeout","expires_in_seconds":3599}`},
		{"lookup in flight", "lookup", inFlight, 200, `{"state":"in-flight","expires_in_seconds":3599}`},
		{"lookup unknown", "lookup", func() map[string]any { return map[string]any{"consumer": "nobody", "key": "k"} }, 404, "not-found"},
		{"lookup with an outcome", "lookup", func() map[string]any { return with(e.inDoubt(), "outcome", "processed") }, 400, "invalid-request"},
		{"release", "resolve", func() map[string]any { return with(e.inDoubt(), "outcome", "not_processed") }, 200,
			`{"state":"released","expires_in_seconds":0}`},
		{"complete with the answer", "resolve", func() map[string]any {
			return with(e.inDoubt(), "outcome", "processed", "response", processed)
		}, 200, `{"state":"done","status":201,"expires_in_seconds":3599}`},
		{"processed without the answer", "resolve", func() map[string]any { return with(e.inDoubt(), "outcome", "processed") }, 400, "invalid-request"},
		{"unknown outcome", "resolve", func() map[string]any { return with(e.inDoubt(), "outcome", "maybe") }, 400, "invalid-request"},
		{"in flight within its lease", "resolve", func() map[string]any { return with(inFlight(), "outcome", "not_processed") }, 409, "conflict"},
		{"unknown key", "resolve", func() map[string]any {
			return map[string]any{"consumer": "nobody", "key": "k", "outcome": "not_processed"}
		}, 404, "not-found"},
		{"missing consumer", "resolve", func() map[string]any { return map[string]any{"key": "k", "outcome": "not_processed"} }, 400, "invalid-request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do("operator", "POST", "/v1/idempotency-keys/"+tc.path, tc.body())
			if resp.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.status, tc.wantStatus, resp.body)
			}
			if tc.wantStatus == 200 {
				// expires_in_seconds is rounded down from a TTL just set.
				var got map[string]any
				resp.json(t, &got)
				if n, ok := got["expires_in_seconds"].(float64); ok && n >= 3598 {
					got["expires_in_seconds"] = 3599
				}
				if fmt.Sprint(got) != fmt.Sprint(mustMap(t, tc.wantBody)) {
					t.Fatalf("body %s, want %s", resp.body, tc.wantBody)
				}
				return
			}
			var p struct{ Type string }
			resp.json(t, &p)
			if p.Type != "https://portcullis.dev/problems/"+tc.wantBody {
				t.Fatalf("problem %s, want %s", resp.body, tc.wantBody)
			}
		})
	}
	// A completed key replays the operator's answer: it is done now, and
	// resolving it again is refused.
	ref := with(e.inDoubt(), "outcome", "processed", "response", processed)
	if resp := e.do("admin", "POST", "/v1/idempotency-keys/resolve", ref); resp.status != 200 {
		t.Fatalf("resolve: %d %s", resp.status, resp.body)
	}
	if resp := e.do("admin", "POST", "/v1/idempotency-keys/resolve", ref); resp.status != 409 {
		t.Fatalf("resolving a done key: %d %s", resp.status, resp.body)
	}
	evs, _ := e.svc.ListAudit(bg, 0, 100000)
	for _, ev := range evs {
		if ev.Action == "idempotency_key.resolve" || ev.Action == "idempotency_key.lookup" {
			// Requests refused before the key was read name no target.
			if ev.Target != "" && (len(ev.Target) != len("idempotency_key:")+16 || strings.Contains(ev.Target, "pay-")) {
				t.Fatalf("audit target %q does not name the key by its digest", ev.Target)
			}
		}
	}
	// The refused resolution of a done key: its event before the change
	// (success), then the failure.
	last := evs[len(evs)-2:]
	if last[0].Outcome != "success" || last[1].Outcome != "rejected" || last[1].Status != 409 || last[0].Target != last[1].Target {
		t.Fatalf("events of a resolution that failed after its event: %+v", last)
	}
}

// Signing keys: conflicts and the rotation rules as the admin API answers
// them.
func TestSigningKeyOperations(t *testing.T) {
	e := newEnv(t)
	c := e.consumer()
	add := func(kid string) response {
		return e.do("operator", "POST", "/v1/consumers/"+c+"/signing-keys", map[string]any{"key_id": kid, "public_key": e.jwk()})
	}
	first := add("k1")
	if first.status != 201 {
		t.Fatalf("add: %d %s", first.status, first.body)
	}
	var k struct {
		ID, KeyID, Alg, State string
		PublicKey             map[string]any `json:"public_key"`
	}
	first.json(t, &k)
	if k.Alg != "ed25519" || k.State != "active" || k.PublicKey["kid"] != "k1" || k.PublicKey["d"] != nil {
		t.Fatalf("added key %s", first.body)
	}
	cases := []struct {
		name   string
		method string
		path   string
		body   any
		want   int
	}{
		{"key id reused", "POST", "/v1/consumers/" + c + "/signing-keys", map[string]any{"key_id": "k1", "public_key": e.jwk()}, 409},
		{"unknown consumer", "POST", "/v1/consumers/AAAAAAAAAAAA/signing-keys", map[string]any{"key_id": "k1", "public_key": e.jwk()}, 404},
		{"private key", "POST", "/v1/consumers/" + c + "/signing-keys", map[string]any{"key_id": "k5",
			"public_key": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}}, 400},
		{"rotate", "POST", "/v1/signing-keys/" + k.ID + "/rotate", map[string]any{"key_id": "k2", "public_key": e.jwk(), "grace": "1h"}, 201},
		{"rotate again", "POST", "/v1/signing-keys/" + k.ID + "/rotate", map[string]any{"key_id": "k3", "public_key": e.jwk()}, 409},
		{"revoke", "POST", "/v1/signing-keys/" + k.ID + "/revoke", nil, 200},
		{"identity", "POST", "/v1/consumers/" + c + "/identities", map[string]any{"issuer": "https://idp", "client_id": "app"}, 201},
		{"identity twice", "POST", "/v1/consumers/" + c + "/identities", map[string]any{"issuer": "https://idp", "client_id": "app"}, 409},
		{"auditor cannot add", "POST", "/v1/consumers/" + c + "/signing-keys", map[string]any{"key_id": "k7", "public_key": e.jwk()}, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			role := "operator"
			if tc.name == "auditor cannot add" {
				role = "auditor"
			}
			if resp := e.do(role, tc.method, tc.path, tc.body); resp.status != tc.want {
				t.Fatalf("%d, want %d: %s", resp.status, tc.want, resp.body)
			}
		})
	}
}

func mustMap(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	r := response{body: []byte(s)}
	r.json(t, &m)
	return m
}
