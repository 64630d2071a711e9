// Package storetest owns the conformance suite every store.Store
// implementation must pass. The same tests run against real SQLite and real
// PostgreSQL, so the two cannot drift apart.
package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/store"
)

// Harness is how the suite gets stores of one implementation.
type Harness struct {
	// Open returns a store on a fresh, empty database, closed when t ends.
	Open func(t *testing.T) store.Store
	// Reopen opens a second store on the same database as s (a second
	// gateway instance, or a restart), closed when t ends.
	Reopen func(t *testing.T, s store.Store) store.Store
	// DropAuditGuard is the SQL that removes the append-only trigger, as an
	// attacker with table rights would, to prove the hash chain still
	// catches the edit.
	DropAuditGuard []string
	// BreakAudit is the SQL that makes every insert into the audit table
	// fail (a trigger that aborts it), and MendAudit the SQL that undoes
	// it: a real fault for the tests that a change and its audit event
	// commit together.
	BreakAudit, MendAudit []string
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Consumers", testConsumers},
		{"ConsumerPages", testConsumerPages},
		{"Keys", testKeys},
		{"Rotate", testRotate},
		{"RotateRace", testRotateRace},
		{"Revoke", testRevoke},
		{"DeleteConsumerRevokesKeys", testDeleteConsumer},
		{"Usage", testUsage},
		{"AdminTokens", testAdminTokens},
		{"AuditChain", testAuditChain},
		{"AuditConcurrent", testAuditConcurrent},
		{"AuditAppendOnly", testAuditAppendOnly},
		{"AuditedChanges", testAuditedChanges},
		{"AuditFailureRollsBack", testAuditFailureRollsBack},
		{"BootstrapAdminToken", testBootstrapAdminToken},
		{"BootstrapRace", testBootstrapRace},
		{"Sealed", testSealed},
		{"ChangeFeed", testChangeFeed},
		{"ChangeFeedAcrossInstances", testChangeFeedAcrossInstances},
		{"MigrationsIdempotent", testMigrations},
		{"ConsoleSessions", testConsoleSessions},
		{"Instances", testInstances},
		{"InstancesAcrossStores", testInstancesAcrossStores},
		{"PepperVersions", testPepperVersions},
		{"RehashKey", testRehashKey},
		{"RehashAdminToken", testRehashAdminToken},
		{"AuditChainVersions", testAuditChainVersions},
		{"SigningKeys", testSigningKeys},
		{"SigningKeyRotateRevoke", testSigningKeyRotateRevoke},
		{"Identities", testIdentities},
		{"SigningChangeFeed", testSigningChangeFeed},
		{"SigningSealed", testSigningSealed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ctx() context.Context { return context.Background() }

func mustConsumer(t *testing.T, s store.Store, id, name string) *store.Consumer {
	t.Helper()
	c := &store.Consumer{ID: id, Name: name, Groups: []string{"partners"}, Tier: "gold",
		Labels: map[string]string{"team": "payments"}, Sealed: []byte("sealed-" + id), CreatedAt: t0, UpdatedAt: t0}
	if err := s.CreateConsumer(ctx(), c, nil); err != nil {
		t.Fatalf("CreateConsumer(%s): %v", id, err)
	}
	return c
}

func newKey(id, consumer string) *store.Key {
	return &store.Key{ID: id, ConsumerID: consumer, Environment: "live", Hash: []byte("hash-" + id),
		Scopes: []string{"accounts:read"}, Tier: "silver", Labels: map[string]string{"app": "web"},
		Sealed: []byte("sealed-" + id), State: store.StateActive, CreatedAt: t0}
}

func mustKey(t *testing.T, s store.Store, id, consumer string) *store.Key {
	t.Helper()
	k := newKey(id, consumer)
	if err := s.CreateKey(ctx(), k, nil); err != nil {
		t.Fatalf("CreateKey(%s): %v", id, err)
	}
	return k
}

func testConsumers(t *testing.T, h Harness) {
	s := h.Open(t)
	c := mustConsumer(t, s, "cons00000001", "acme")
	got, err := s.GetConsumer(ctx(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "acme" || got.Tier != "gold" || len(got.Groups) != 1 || got.Groups[0] != "partners" ||
		got.Labels["team"] != "payments" || !bytes.Equal(got.Sealed, c.Sealed) || !got.CreatedAt.Equal(t0) || got.Disabled {
		t.Fatalf("GetConsumer = %+v", got)
	}
	if err := s.CreateConsumer(ctx(), &store.Consumer{ID: "cons00000002", Name: "acme", CreatedAt: t0, UpdatedAt: t0}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate name: err = %v, want ErrConflict", err)
	}
	if err := s.CreateConsumer(ctx(), &store.Consumer{ID: c.ID, Name: "other", CreatedAt: t0, UpdatedAt: t0}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate id: err = %v, want ErrConflict", err)
	}
	if _, err := s.GetConsumer(ctx(), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetConsumer(missing) err = %v", err)
	}

	got.Name, got.Disabled, got.Groups, got.Labels, got.Tier = "acme-2", true, nil, nil, ""
	got.UpdatedAt = t0.Add(time.Hour)
	if err := s.UpdateConsumer(ctx(), got, nil); err != nil {
		t.Fatal(err)
	}
	again, _ := s.GetConsumer(ctx(), c.ID)
	if again.Name != "acme-2" || !again.Disabled || len(again.Groups) != 0 || len(again.Labels) != 0 ||
		!again.UpdatedAt.Equal(t0.Add(time.Hour)) || !again.CreatedAt.Equal(t0) {
		t.Fatalf("after update = %+v", again)
	}
	if err := s.UpdateConsumer(ctx(), &store.Consumer{ID: "nope", Name: "x"}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateConsumer(missing) err = %v", err)
	}
	mustConsumer(t, s, "cons00000003", "beta")
	again.Name = "beta"
	if err := s.UpdateConsumer(ctx(), again, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rename onto an existing name: err = %v, want ErrConflict", err)
	}

	if err := s.DeleteConsumer(ctx(), c.ID, t0.Add(2*time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetConsumer(ctx(), c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetConsumer(deleted) err = %v", err)
	}
	if err := s.DeleteConsumer(ctx(), c.ID, t0, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete err = %v", err)
	}
	// The name of a deleted consumer can be used again.
	mustConsumer(t, s, "cons00000004", "acme-2")
}

func testConsumerPages(t *testing.T, h Harness) {
	s := h.Open(t)
	for i := 0; i < 7; i++ {
		mustConsumer(t, s, fmt.Sprintf("cons%08d", i), fmt.Sprintf("name-%d", i))
	}
	if err := s.DeleteConsumer(ctx(), "cons00000003", t0, nil); err != nil {
		t.Fatal(err)
	}
	var ids []string
	after := ""
	for pages := 0; pages < 10; pages++ {
		page, err := s.ListConsumers(ctx(), store.Page{After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			ids = append(ids, c.ID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	want := "[cons00000000 cons00000001 cons00000002 cons00000004 cons00000005 cons00000006]"
	if fmt.Sprint(ids) != want {
		t.Fatalf("paged ids = %v, want %s", ids, want)
	}
}

func testKeys(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consA", "a")
	mustConsumer(t, s, "consB", "b")
	exp := t0.Add(90 * 24 * time.Hour)
	k := newKey("key000000001", "consA")
	k.ExpiresAt = exp
	if err := s.CreateKey(ctx(), k, nil); err != nil {
		t.Fatal(err)
	}
	mustKey(t, s, "key000000002", "consB")
	mustKey(t, s, "key000000003", "consA")
	if err := s.CreateKey(ctx(), newKey("key000000001", "consA"), nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate key id err = %v", err)
	}
	if err := s.CreateKey(ctx(), newKey("key000000009", "nobody"), nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key for missing consumer err = %v", err)
	}
	got, err := s.GetKey(ctx(), "key000000001")
	if err != nil {
		t.Fatal(err)
	}
	if got.ConsumerID != "consA" || got.Environment != "live" || !bytes.Equal(got.Hash, []byte("hash-key000000001")) ||
		got.State != store.StateActive || !got.ExpiresAt.Equal(exp) || got.Scopes[0] != "accounts:read" ||
		got.Tier != "silver" || got.Labels["app"] != "web" || !got.GraceUntil.IsZero() || !got.LastUsedAt.IsZero() {
		t.Fatalf("GetKey = %+v", got)
	}
	if _, err := s.GetKey(ctx(), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetKey(missing) err = %v", err)
	}
	vk, vc, err := s.GetKeyForVerify(ctx(), "key000000001")
	if err != nil || vk.ID != "key000000001" || vc == nil || vc.ID != "consA" || vc.Tier != "gold" || vc.Groups[0] != "partners" {
		t.Fatalf("GetKeyForVerify = %+v, %+v, %v", vk, vc, err)
	}
	if _, _, err := s.GetKeyForVerify(ctx(), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetKeyForVerify(missing) err = %v", err)
	}
	all, err := s.ListKeys(ctx(), store.KeyFilter{}, store.Page{Limit: 10})
	if err != nil || len(all) != 3 {
		t.Fatalf("ListKeys = %d, %v", len(all), err)
	}
	mine, err := s.ListKeys(ctx(), store.KeyFilter{ConsumerID: "consA"}, store.Page{Limit: 1})
	if err != nil || len(mine) != 1 || mine[0].ID != "key000000001" {
		t.Fatalf("ListKeys(consA, 1) = %v, %v", mine, err)
	}
	next, err := s.ListKeys(ctx(), store.KeyFilter{ConsumerID: "consA"}, store.Page{After: mine[0].ID, Limit: 5})
	if err != nil || len(next) != 1 || next[0].ID != "key000000003" {
		t.Fatalf("ListKeys(consA, page 2) = %v, %v", next, err)
	}
}

func testRotate(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consA", "a")
	mustKey(t, s, "old000000001", "consA")
	grace := t0.Add(24 * time.Hour)
	succ := newKey("new000000001", "consA")
	if err := s.RotateKey(ctx(), "old000000001", grace, succ, nil); err != nil {
		t.Fatal(err)
	}
	old, _ := s.GetKey(ctx(), "old000000001")
	if old.State != store.StateRotating || !old.GraceUntil.Equal(grace) || old.SuccessorID != "new000000001" {
		t.Fatalf("old after rotate = %+v", old)
	}
	nk, err := s.GetKey(ctx(), "new000000001")
	if err != nil || nk.State != store.StateActive || nk.PredecessorID != "old000000001" {
		t.Fatalf("successor = %+v, %v", nk, err)
	}
	if err := s.RotateKey(ctx(), "old000000001", grace, newKey("new000000002", "consA"), nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rotating a rotating key: err = %v, want ErrConflict", err)
	}
	if _, err := s.GetKey(ctx(), "new000000002"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed rotation must not leave its successor behind: %v", err)
	}
	if err := s.RotateKey(ctx(), "missing00001", grace, newKey("new000000003", "consA"), nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("rotating a missing key: err = %v", err)
	}
	if err := s.RevokeKey(ctx(), "new000000001", t0, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.RotateKey(ctx(), "new000000001", grace, newKey("new000000004", "consA"), nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rotating a revoked key: err = %v, want ErrConflict", err)
	}
}

func testRotateRace(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consA", "a")
	mustKey(t, s, "old000000001", "consA")
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = s.RotateKey(ctx(), "old000000001", t0, newKey(fmt.Sprintf("new%09d", i), "consA"), nil)
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("unexpected error: %v", err)
		}
	}
	keys, _ := s.ListKeys(ctx(), store.KeyFilter{ConsumerID: "consA"}, store.Page{Limit: 100})
	if ok != 1 || len(keys) != 2 {
		t.Fatalf("%d rotations succeeded and %d keys exist; want exactly 1 and 2", ok, len(keys))
	}
}

func testRevoke(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consA", "a")
	mustKey(t, s, "key000000001", "consA")
	at := t0.Add(time.Minute)
	if err := s.RevokeKey(ctx(), "key000000001", at, nil); err != nil {
		t.Fatal(err)
	}
	k, _ := s.GetKey(ctx(), "key000000001")
	if k.State != store.StateRevoked || !k.RevokedAt.Equal(at) {
		t.Fatalf("after revoke = %+v", k)
	}
	if err := s.RevokeKey(ctx(), "key000000001", at.Add(time.Hour), nil); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	k, _ = s.GetKey(ctx(), "key000000001")
	if !k.RevokedAt.Equal(at) {
		t.Fatalf("a second revoke moved revoked_at to %v", k.RevokedAt)
	}
	if err := s.RevokeKey(ctx(), "missing", at, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke missing err = %v", err)
	}
}

func testDeleteConsumer(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consA", "a")
	mustKey(t, s, "key000000001", "consA")
	mustKey(t, s, "key000000002", "consA")
	if err := s.DeleteConsumer(ctx(), "consA", t0, nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"key000000001", "key000000002"} {
		k, c, err := s.GetKeyForVerify(ctx(), id)
		if err != nil || k.State != store.StateRevoked || c != nil {
			t.Fatalf("%s after consumer delete: %+v consumer=%v err=%v", id, k, c, err)
		}
	}
	if err := s.CreateKey(ctx(), newKey("key000000003", "consA"), nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key for a deleted consumer: err = %v", err)
	}
}

func testUsage(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consA", "a")
	mustKey(t, s, "key000000001", "consA")
	mustKey(t, s, "key000000002", "consA")
	err := s.RecordUsage(ctx(), []store.Usage{
		{KeyID: "key000000001", Count: 5, LastUsed: t0.Add(time.Minute)},
		{KeyID: "key000000002", Count: 1, LastUsed: t0.Add(time.Second)},
		{KeyID: "unknown", Count: 9, LastUsed: t0},
	})
	if err != nil {
		t.Fatal(err)
	}
	// An older batch adds its count but never moves last_used backwards.
	if err := s.RecordUsage(ctx(), []store.Usage{{KeyID: "key000000001", Count: 2, LastUsed: t0}}); err != nil {
		t.Fatal(err)
	}
	k1, _ := s.GetKey(ctx(), "key000000001")
	k2, _ := s.GetKey(ctx(), "key000000002")
	if k1.RequestCount != 7 || !k1.LastUsedAt.Equal(t0.Add(time.Minute)) || k2.RequestCount != 1 {
		t.Fatalf("usage: k1 %d %v, k2 %d", k1.RequestCount, k1.LastUsedAt, k2.RequestCount)
	}
	if err := s.RecordUsage(ctx(), nil); err != nil {
		t.Fatal(err)
	}
}

func testAdminTokens(t *testing.T, h Harness) {
	s := h.Open(t)
	if n, err := s.CountAdminTokens(ctx(), t0); err != nil || n != 0 {
		t.Fatalf("count on empty = %d, %v", n, err)
	}
	for i, role := range []string{"admin", "operator", "auditor"} {
		tok := &store.AdminToken{ID: fmt.Sprintf("tok%09d", i), Name: role + "-bot", Role: role,
			Hash: []byte("h" + role), CreatedBy: "cli:bootstrap", CreatedAt: t0}
		if err := s.CreateAdminToken(ctx(), tok, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateAdminToken(ctx(), &store.AdminToken{ID: "tok000000000", Name: "x", Role: "admin", Hash: []byte("x"), CreatedBy: "x", CreatedAt: t0}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate token id err = %v", err)
	}
	if err := s.CreateAdminToken(ctx(), &store.AdminToken{ID: "tok000000099", Name: "x", Role: "root", Hash: []byte("x"), CreatedBy: "x", CreatedAt: t0}, nil); err == nil {
		t.Fatal("a token with an unknown role was stored")
	}
	got, err := s.GetAdminToken(ctx(), "tok000000001")
	if err != nil || got.Role != "operator" || got.Name != "operator-bot" || !bytes.Equal(got.Hash, []byte("hoperator")) || !got.RevokedAt.IsZero() {
		t.Fatalf("GetAdminToken = %+v, %v", got, err)
	}
	if err := s.RevokeAdminToken(ctx(), "tok000000001", t0.Add(time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetAdminToken(ctx(), "tok000000001")
	if !got.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revoked_at = %v", got.RevokedAt)
	}
	if n, _ := s.CountAdminTokens(ctx(), t0); n != 2 {
		t.Fatalf("count after revoke = %d, want 2", n)
	}
	if err := s.RevokeAdminToken(ctx(), "missing", t0, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoke missing token err = %v", err)
	}
	list, err := s.ListAdminTokens(ctx(), store.Page{Limit: 2})
	if err != nil || len(list) != 2 || list[0].ID != "tok000000000" {
		t.Fatalf("ListAdminTokens = %v, %v", list, err)
	}
}

func chainer(t *testing.T) *audit.Chainer {
	c, err := audit.NewChainer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func appendEvents(t *testing.T, s store.Store, c *audit.Chainer, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		e := &audit.Event{Time: t0.Add(time.Duration(i) * time.Second), Actor: "token:abc", Role: "admin",
			Action: "key.revoke", Target: fmt.Sprintf("key:%d", i), SourceIP: "127.0.0.1", Outcome: audit.OutcomeSuccess, Status: 200}
		if err := s.AppendAudit(ctx(), e, c); err != nil {
			t.Fatal(err)
		}
		if e.Seq == 0 || len(e.Hash) == 0 {
			t.Fatalf("append did not fill seq/hash: %+v", e)
		}
	}
}

func testAuditChain(t *testing.T, h Harness) {
	s := h.Open(t)
	c := chainer(t)
	if n, err := c.Verify(ctx(), s); err != nil || n != 0 {
		t.Fatalf("verify empty = %d, %v", n, err)
	}
	appendEvents(t, s, c, 5)
	evs, err := s.ListAudit(ctx(), 2, 2)
	if err != nil || len(evs) != 2 || evs[0].Seq != 3 || evs[1].Target != "key:3" || !evs[0].Time.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("ListAudit(after 2, 2) = %+v, %v", evs, err)
	}
	if n, err := c.Verify(ctx(), s); err != nil || n != 5 {
		t.Fatalf("verify = %d, %v", n, err)
	}
	other, _ := audit.NewChainer(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Verify(ctx(), s); !errors.Is(err, audit.ErrTampered) {
		t.Fatalf("verify with the wrong key: %v, want ErrTampered", err)
	}
}

func testAuditConcurrent(t *testing.T, h Harness) {
	s := h.Open(t)
	s2 := h.Reopen(t, s)
	c := chainer(t)
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			st := s
			if g%2 == 1 {
				st = s2
			}
			for i := 0; i < 5; i++ {
				e := &audit.Event{Time: t0, Actor: fmt.Sprintf("g%d", g), Action: "x", Outcome: audit.OutcomeSuccess}
				if err := st.AppendAudit(ctx(), e, c); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if n, err := c.Verify(ctx(), s); err != nil || n != 30 {
		t.Fatalf("verify after concurrent appends = %d, %v", n, err)
	}
}

func testAuditAppendOnly(t *testing.T, h Harness) {
	s := h.Open(t)
	c := chainer(t)
	appendEvents(t, s, c, 3)
	db := s.(interface{ DB() *sql.DB }).DB()
	for _, q := range []string{
		`UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2`,
		`DELETE FROM audit_events WHERE seq = 2`,
	} {
		if _, err := db.ExecContext(ctx(), q); err == nil {
			t.Fatalf("%q succeeded on the append-only table", q)
		}
	}
	// Someone with rights to drop the guard edits an event: the chain
	// catches it.
	for _, q := range h.DropAuditGuard {
		if _, err := db.ExecContext(ctx(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := db.ExecContext(ctx(), `UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(ctx(), s); !errors.Is(err, audit.ErrTampered) {
		t.Fatalf("verify after an edit = %v, want ErrTampered", err)
	}
	if _, err := db.ExecContext(ctx(), `UPDATE audit_events SET actor = 'token:abc' WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx(), `DELETE FROM audit_events WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(ctx(), s); !errors.Is(err, audit.ErrTampered) {
		t.Fatalf("verify after a deletion = %v, want ErrTampered", err)
	}
}

func testSealed(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consA", "a")
	mustConsumer(t, s, "consB", "b")
	mustKey(t, s, "key000000001", "consA")
	got, err := s.ListSealed(ctx(), "consumer", "", 10)
	if err != nil || len(got) != 2 || got[0].ID != "consA" || string(got[1].Data) != "sealed-consB" {
		t.Fatalf("ListSealed(consumer) = %+v, %v", got, err)
	}
	ok, err := s.ReplaceSealed(ctx(), "consumer", "consA", []byte("sealed-consA"), []byte("v2"))
	if err != nil || !ok {
		t.Fatalf("ReplaceSealed = %v, %v", ok, err)
	}
	ok, err = s.ReplaceSealed(ctx(), "consumer", "consA", []byte("sealed-consA"), []byte("v3"))
	if err != nil || ok {
		t.Fatalf("ReplaceSealed with a stale old value = %v, %v; want false", ok, err)
	}
	c, _ := s.GetConsumer(ctx(), "consA")
	if string(c.Sealed) != "v2" {
		t.Fatalf("sealed = %q", c.Sealed)
	}
	keys, err := s.ListSealed(ctx(), "key", "", 10)
	if err != nil || len(keys) != 1 {
		t.Fatalf("ListSealed(key) = %v, %v", keys, err)
	}
	if _, err := s.ListSealed(ctx(), "admin_tokens; --", "", 10); err == nil {
		t.Fatal("ListSealed accepted an unknown kind")
	}
}

// watch starts Watch on s and returns the channel of changes, after the
// initial FeedReset.
func watch(t *testing.T, s store.Store) <-chan store.Change {
	t.Helper()
	ch := make(chan store.Change, 100)
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Watch(wctx, func(c store.Change) { ch <- c })
	}()
	t.Cleanup(func() { cancel(); <-done })
	if c := next(t, ch); c.Kind != store.FeedReset {
		t.Fatalf("first change = %+v, want FeedReset", c)
	}
	if err := s.FeedErr(); err != nil {
		t.Fatalf("FeedErr after the feed started: %v", err)
	}
	return ch
}

func next(t *testing.T, ch <-chan store.Change) store.Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change arrived within 10s")
	}
	return store.Change{}
}

func expectChanges(t *testing.T, ch <-chan store.Change, want ...store.Change) {
	t.Helper()
	for _, w := range want {
		if got := next(t, ch); got != w {
			t.Fatalf("change = %+v, want %+v", got, w)
		}
	}
}

func testChangeFeed(t *testing.T, h Harness) {
	s := h.Open(t)
	ch := watch(t, s)
	mustConsumer(t, s, "consA", "a")
	mustKey(t, s, "key000000001", "consA")
	mustKey(t, s, "key000000002", "consA")
	if err := s.RevokeKey(ctx(), "key000000001", t0, nil); err != nil {
		t.Fatal(err)
	}
	expectChanges(t, ch, store.Change{Kind: store.KeyChanged, ID: "key000000001"})
	if err := s.RotateKey(ctx(), "key000000002", t0, newKey("key000000003", "consA"), nil); err != nil {
		t.Fatal(err)
	}
	expectChanges(t, ch, store.Change{Kind: store.KeyChanged, ID: "key000000002"})
	c, _ := s.GetConsumer(ctx(), "consA")
	c.Disabled = true
	if err := s.UpdateConsumer(ctx(), c, nil); err != nil {
		t.Fatal(err)
	}
	expectChanges(t, ch, store.Change{Kind: store.ConsumerChanged, ID: "consA"})
	if err := s.DeleteConsumer(ctx(), "consA", t0, nil); err != nil {
		t.Fatal(err)
	}
	expectChanges(t, ch, store.Change{Kind: store.ConsumerChanged, ID: "consA"})
	// A failed change publishes nothing: the next change is the next real one.
	_ = s.RevokeKey(ctx(), "missing", t0, nil)
	mustConsumer(t, s, "consB", "b")
	mustKey(t, s, "key000000004", "consB")
	if err := s.RevokeKey(ctx(), "key000000004", t0, nil); err != nil {
		t.Fatal(err)
	}
	expectChanges(t, ch, store.Change{Kind: store.KeyChanged, ID: "key000000004"})
}

func testChangeFeedAcrossInstances(t *testing.T, h Harness) {
	a := h.Open(t)
	b := h.Reopen(t, a)
	if _, ok := a.(*store.SQLite); ok {
		t.Skip("SQLite is single-instance: its change feed is in process")
	}
	ch := watch(t, b)
	mustConsumer(t, a, "consA", "a")
	mustKey(t, a, "key000000001", "consA")
	if err := a.RevokeKey(ctx(), "key000000001", t0, nil); err != nil {
		t.Fatal(err)
	}
	expectChanges(t, ch, store.Change{Kind: store.KeyChanged, ID: "key000000001"})
}

func testMigrations(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consA", "a")
	s2 := h.Reopen(t, s)
	if _, err := s2.GetConsumer(ctx(), "consA"); err != nil {
		t.Fatalf("data after reopening: %v", err)
	}
	db := s.(interface{ DB() *sql.DB }).DB()
	// Each migration ran once: 0001 (init), 0002 (signing keys), 0003
	// (secret versions) and 0004 (console sessions).
	var n, top int
	if err := db.QueryRowContext(ctx(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &top); err != nil || n != 4 || top != 4 {
		t.Fatalf("schema_migrations rows = %d (max version %d), %v; want 4", n, top, err)
	}
}
