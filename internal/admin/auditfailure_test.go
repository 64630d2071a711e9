package admin_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/idempotency"
	"github.com/portcullis/portcullis/internal/store"
)

// adminDB is the database under the env's key service.
func (e *env) adminDB() *sql.DB {
	return e.svc.Store().(interface{ DB() *sql.DB }).DB()
}

// snapshot is every consumer, key, admin token and audit event, as text.
func (e *env) snapshot() string {
	e.t.Helper()
	st := e.svc.Store()
	var b strings.Builder
	cs, err1 := st.ListConsumers(bg, store.Page{Limit: 1000})
	ks, err2 := st.ListKeys(bg, store.KeyFilter{}, store.Page{Limit: 1000})
	ts, err3 := st.ListAdminTokens(bg, store.Page{Limit: 1000})
	evs, err4 := st.ListAudit(bg, 0, 100000)
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			e.t.Fatal(err)
		}
	}
	for _, c := range cs {
		fmt.Fprintf(&b, "consumer %+v\n", *c)
	}
	for _, k := range ks {
		fmt.Fprintf(&b, "key %+v\n", *k)
	}
	for _, tok := range ts {
		fmt.Fprintf(&b, "token %+v\n", *tok)
	}
	sks, err5 := st.ListSigningKeys(bg, "", store.Page{Limit: 1000})
	ids, err6 := st.ListIdentities(bg, "", store.Page{Limit: 1000})
	if err5 != nil || err6 != nil {
		e.t.Fatal(err5, err6)
	}
	for _, k := range sks {
		fmt.Fprintf(&b, "signing key %+v\n", *k)
	}
	for _, i := range ids {
		fmt.Fprintf(&b, "identity %+v\n", *i)
	}
	for _, ev := range evs {
		fmt.Fprintf(&b, "event %d %s %s %s %d\n", ev.Seq, ev.Action, ev.Target, ev.Outcome, ev.Status)
	}
	return b.String()
}

// When the audit trail cannot be written (a trigger aborts every insert
// into it), every change the API offers is refused with 503 problem+json
// and the database is left as it was; reads still answer. Once the trail
// works again, changes go through with their events and the chain verifies.
func TestChangesNeedTheirAuditEvent(t *testing.T) {
	e := newEnv(t)
	upd, del, iss := e.consumer(), e.consumer(), e.consumer()
	rot, rev := e.key(), e.key()
	tok := e.token()
	sAdd, sRot, sRev := e.consumer(), e.signingKey(), e.signingKey()
	idAdd, idDel := e.consumer(), e.identity()
	doubt := e.inDoubt()
	doubt["outcome"] = "not_processed"
	cases := []struct {
		name, role, method, path string
		body                     any
		// success is the status once the trail works.
		success int
	}{
		{"consumer.create", "operator", "POST", "/v1/consumers", map[string]any{"name": "new-consumer"}, 201},
		{"consumer.update", "operator", "PATCH", "/v1/consumers/" + upd, map[string]any{"disabled": true}, 200},
		{"consumer.delete", "cert", "DELETE", "/v1/consumers/" + del, nil, 204},
		{"key.issue", "operator", "POST", "/v1/keys", map[string]any{"consumer_id": iss, "scopes": []string{"accounts:read"}}, 201},
		{"key.rotate", "operator", "POST", "/v1/keys/" + rot + "/rotate", map[string]any{"grace": "1h"}, 201},
		{"key.revoke", "operator", "POST", "/v1/keys/" + rev + "/revoke", nil, 200},
		{"admin_token.create", "admin", "POST", "/v1/admin-tokens", map[string]any{"name": "ci", "role": "operator"}, 201},
		{"admin_token.revoke", "admin", "POST", "/v1/admin-tokens/" + tok + "/revoke", nil, 200},
		{"signing_key.add", "operator", "POST", "/v1/consumers/" + sAdd + "/signing-keys", map[string]any{"key_id": "k9", "public_key": e.jwk()}, 201},
		{"signing_key.rotate", "operator", "POST", "/v1/signing-keys/" + sRot + "/rotate", map[string]any{"key_id": "k2", "public_key": e.jwk()}, 201},
		{"signing_key.revoke", "operator", "POST", "/v1/signing-keys/" + sRev + "/revoke", nil, 200},
		{"identity.create", "operator", "POST", "/v1/consumers/" + idAdd + "/identities", map[string]any{"client_id": "app-9"}, 201},
		{"identity.delete", "operator", "DELETE", "/v1/identities/" + idDel, nil, 204},
		// The shared store is not the database: the event is written
		// first, and the key stays in doubt when it cannot be.
		{"idempotency_key.resolve", "operator", "POST", "/v1/idempotency-keys/resolve", doubt, 200},
	}
	before := e.snapshot()
	eventsBefore, err := e.svc.VerifyAudit(bg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.adminDB().ExecContext(bg, `CREATE TRIGGER admin_test_audit_down BEFORE INSERT ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit trail down (test)'); END`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(tc.role, tc.method, tc.path, tc.body)
			if resp.status != 503 || resp.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s %s = %d %q, want 503 problem+json\n%s", tc.method, tc.path, resp.status,
					resp.header.Get("Content-Type"), resp.body)
			}
			var p struct {
				Type      string `json:"type"`
				Status    int    `json:"status"`
				RequestID string `json:"request_id"`
				Detail    string `json:"detail"`
			}
			resp.json(t, &p)
			if p.Type != "https://portcullis.dev/problems/audit-unavailable" || p.Status != 503 || p.RequestID == "" ||
				strings.Contains(string(resp.body), "audit trail down") {
				t.Fatalf("problem = %s", resp.body)
			}
		})
	}
	// Reads still answer (their events are lost and logged, as before).
	if resp := e.do("auditor", "GET", "/v1/consumers/"+upd, nil); resp.status != 200 {
		t.Fatalf("a read while the trail is down = %d", resp.status)
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("refused changes changed the database:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	ref := idempotency.KeyRef{Consumer: doubt["consumer"].(string), Key: doubt["key"].(string)}
	if st, err := idempotency.NewAdmin(e.shared, nil).Inspect(bg, ref); err != nil || st.State != "in-doubt" {
		t.Fatalf("a refused resolution changed the key: %+v, %v", st, err)
	}

	if _, err := e.adminDB().ExecContext(bg, `DROP TRIGGER admin_test_audit_down`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		if resp := e.do(tc.role, tc.method, tc.path, tc.body); resp.status != tc.success {
			t.Fatalf("%s after the trail recovered = %d, want %d\n%s", tc.name, resp.status, tc.success, resp.body)
		}
	}
	evs, err := e.svc.ListAudit(bg, eventsBefore, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(cases) {
		t.Fatalf("%d events after recovery, want one per change (%d): %+v", len(evs), len(cases), evs)
	}
	for i, ev := range evs {
		kind, _, _ := strings.Cut(ev.Action, ".")
		if ev.Action != cases[i].name || ev.Outcome != "success" || ev.Status != cases[i].success ||
			!strings.HasPrefix(ev.Target, kind+":") || len(ev.Target) <= len(kind)+1 || ev.SourceIP != "127.0.0.1" {
			t.Errorf("event %d = %+v", i, ev)
		}
	}
	if n, err := e.svc.VerifyAudit(bg); err != nil || n != eventsBefore+int64(len(cases)) {
		t.Fatalf("audit chain: %d events, %v; want %d", n, err, eventsBefore+int64(len(cases)))
	}
}
