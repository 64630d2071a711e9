package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/store"
)

// A change and its audit event commit together: these tests make the audit
// insert fail for real (Harness.BreakAudit installs a trigger that aborts
// it) and check that every kind of change is then refused and leaves no
// trace, in the tables or on the change feed.

// mutation is one kind of change, with the setup it needs.
type mutation struct {
	name string
	// setup prepares s (before the audit trail is broken).
	setup func(t *testing.T, s store.Store)
	// run makes the change with a.
	run func(s store.Store, a *store.Audit) error
	// action names it in its event.
	action string
}

func mutations() []mutation {
	consumerAndKey := func(t *testing.T, s store.Store) {
		mustConsumer(t, s, "consA", "a")
		mustKey(t, s, "key000000001", "consA")
	}
	token := func(t *testing.T, s store.Store) {
		tok := &store.AdminToken{ID: "tok000000001", Name: "ci", Role: "operator", Hash: []byte("h"), CreatedBy: "test", CreatedAt: t0}
		if err := s.CreateAdminToken(ctx(), tok, nil); err != nil {
			t.Fatal(err)
		}
	}
	newToken := func(id string) *store.AdminToken {
		return &store.AdminToken{ID: id, Name: "new", Role: "admin", Hash: []byte("h" + id), CreatedBy: "test", CreatedAt: t0}
	}
	return append([]mutation{
		{"CreateConsumer", func(*testing.T, store.Store) {}, func(s store.Store, a *store.Audit) error {
			return s.CreateConsumer(ctx(), &store.Consumer{ID: "consNew", Name: "new", CreatedAt: t0, UpdatedAt: t0}, a)
		}, "consumer.create"},
		{"UpdateConsumer", consumerAndKey, func(s store.Store, a *store.Audit) error {
			return s.UpdateConsumer(ctx(), &store.Consumer{ID: "consA", Name: "renamed", Disabled: true, CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)}, a)
		}, "consumer.update"},
		{"DeleteConsumer", consumerAndKey, func(s store.Store, a *store.Audit) error {
			return s.DeleteConsumer(ctx(), "consA", t0.Add(time.Hour), a)
		}, "consumer.delete"},
		{"CreateKey", consumerAndKey, func(s store.Store, a *store.Audit) error {
			return s.CreateKey(ctx(), newKey("key000000002", "consA"), a)
		}, "key.issue"},
		{"RotateKey", consumerAndKey, func(s store.Store, a *store.Audit) error {
			return s.RotateKey(ctx(), "key000000001", t0.Add(time.Hour), newKey("key000000002", "consA"), a)
		}, "key.rotate"},
		{"RevokeKey", consumerAndKey, func(s store.Store, a *store.Audit) error {
			return s.RevokeKey(ctx(), "key000000001", t0.Add(time.Hour), a)
		}, "key.revoke"},
		{"CreateAdminToken", token, func(s store.Store, a *store.Audit) error {
			return s.CreateAdminToken(ctx(), newToken("tok000000002"), a)
		}, "admin_token.create"},
		{"RevokeAdminToken", token, func(s store.Store, a *store.Audit) error {
			return s.RevokeAdminToken(ctx(), "tok000000001", t0.Add(time.Hour), a)
		}, "admin_token.revoke"},
		{"BootstrapAdminToken", func(*testing.T, store.Store) {}, func(s store.Store, a *store.Audit) error {
			return s.BootstrapAdminToken(ctx(), newToken("tok000000003"), a)
		}, "admin_token.bootstrap"},
	}, signingMutations()...)
}

func event(action, target string) *audit.Event {
	return &audit.Event{Time: t0, Actor: "token:abc", Role: "admin", Action: action, Target: target,
		SourceIP: "192.0.2.1", Outcome: audit.OutcomeSuccess, Status: 200}
}

// snapshot is everything a client of the store can see, as text.
func snapshot(t *testing.T, s store.Store) string {
	t.Helper()
	var b strings.Builder
	cs, err := s.ListConsumers(ctx(), store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		fmt.Fprintf(&b, "consumer %+v\n", *c)
	}
	ks, err := s.ListKeys(ctx(), store.KeyFilter{}, store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		fmt.Fprintf(&b, "key %+v\n", *k)
	}
	ts, err := s.ListAdminTokens(ctx(), store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range ts {
		fmt.Fprintf(&b, "token %+v\n", *tok)
	}
	b.WriteString(signingSnapshot(t, s))
	evs, err := s.ListAudit(ctx(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		fmt.Fprintf(&b, "event %d %s %s\n", e.Seq, e.Action, e.Target)
	}
	return b.String()
}

func execAll(t *testing.T, s store.Store, qs []string) {
	t.Helper()
	db := s.(interface{ DB() *sql.DB }).DB()
	for _, q := range qs {
		if _, err := db.ExecContext(ctx(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// A sentinel key whose revocation shows the feed carried nothing before it.
func feedIsQuiet(t *testing.T, s store.Store, ch <-chan store.Change) {
	t.Helper()
	if err := s.RevokeKey(ctx(), "sentinel0001", t0, nil); err != nil {
		t.Fatal(err)
	}
	expectChanges(t, ch, store.Change{Kind: store.KeyChanged, ID: "sentinel0001"})
}

func testAuditFailureRollsBack(t *testing.T, h Harness) {
	for _, m := range mutations() {
		t.Run(m.name, func(t *testing.T) {
			s := h.Open(t)
			c := chainer(t)
			mustConsumer(t, s, "consSentinel", "sentinel")
			mustKey(t, s, "sentinel0001", "consSentinel")
			m.setup(t, s)
			appendEvents(t, s, c, 2)
			before := snapshot(t, s)
			ch := watch(t, s)

			execAll(t, s, h.BreakAudit)
			e := event(m.action, "x:1")
			err := m.run(s, &store.Audit{Event: e, Chain: c})
			if !errors.Is(err, store.ErrNotAudited) {
				t.Fatalf("%s with the audit trail failing: err = %v, want ErrNotAudited", m.name, err)
			}
			if e.Seq != 0 || e.Hash != nil {
				t.Fatalf("a rolled-back event kept seq %d / hash %x", e.Seq, e.Hash)
			}
			if after := snapshot(t, s); after != before {
				t.Fatalf("%s changed the database although its event was not written:\nbefore:\n%s\nafter:\n%s", m.name, before, after)
			}
			execAll(t, s, h.MendAudit)
			feedIsQuiet(t, s, ch)

			// Once the trail works again the same change goes through, with
			// its event, and the chain verifies.
			if err := m.run(s, &store.Audit{Event: e, Chain: c}); err != nil {
				t.Fatalf("%s after the audit trail recovered: %v", m.name, err)
			}
			if e.Seq != 3 {
				t.Fatalf("event seq = %d, want 3", e.Seq)
			}
			if n, err := c.Verify(ctx(), s); err != nil || n != 3 {
				t.Fatalf("verify = %d, %v; want 3", n, err)
			}
		})
	}
}

// A change with an event writes both; a change that fails for its own
// reason writes neither; and the chain stays whole across failures of the
// trail itself.
func testAuditedChanges(t *testing.T, h Harness) {
	s := h.Open(t)
	c := chainer(t)
	var want []string
	ok := func(e *audit.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != int64(len(want)+1) || len(e.Hash) == 0 {
			t.Fatalf("event after a committed change: seq %d hash %x, want seq %d", e.Seq, e.Hash, len(want)+1)
		}
		want = append(want, e.Action+" "+e.Target)
	}
	refused := func(e *audit.Event, err, wantErr error) {
		t.Helper()
		if !errors.Is(err, wantErr) {
			t.Fatalf("err = %v, want %v", err, wantErr)
		}
		if e.Seq != 0 {
			t.Fatalf("a refused change left its event at seq %d", e.Seq)
		}
	}
	a := func(e *audit.Event) *store.Audit { return &store.Audit{Event: e, Chain: c} }

	e := event("consumer.create", "consumer:consA")
	ok(e, s.CreateConsumer(ctx(), &store.Consumer{ID: "consA", Name: "a", CreatedAt: t0, UpdatedAt: t0}, a(e)))
	e = event("consumer.create", "consumer:consB")
	refused(e, s.CreateConsumer(ctx(), &store.Consumer{ID: "consB", Name: "a", CreatedAt: t0, UpdatedAt: t0}, a(e)), store.ErrConflict)
	e = event("key.issue", "key:key000000001")
	ok(e, s.CreateKey(ctx(), newKey("key000000001", "consA"), a(e)))
	e = event("key.issue", "key:key000000002")
	refused(e, s.CreateKey(ctx(), newKey("key000000002", "nobody"), a(e)), store.ErrNotFound)
	e = event("key.rotate", "key:key000000001")
	ok(e, s.RotateKey(ctx(), "key000000001", t0, newKey("key000000003", "consA"), a(e)))
	e = event("key.rotate", "key:key000000001")
	refused(e, s.RotateKey(ctx(), "key000000001", t0, newKey("key000000004", "consA"), a(e)), store.ErrConflict)
	e = event("key.revoke", "key:missing")
	refused(e, s.RevokeKey(ctx(), "missing", t0, a(e)), store.ErrNotFound)
	e = event("admin_token.revoke", "admin_token:missing")
	refused(e, s.RevokeAdminToken(ctx(), "missing", t0, a(e)), store.ErrNotFound)
	e = event("consumer.update", "consumer:missing")
	refused(e, s.UpdateConsumer(ctx(), &store.Consumer{ID: "missing", Name: "m"}, a(e)), store.ErrNotFound)
	e = event("consumer.delete", "consumer:missing")
	refused(e, s.DeleteConsumer(ctx(), "missing", t0, a(e)), store.ErrNotFound)

	// The trail fails for a while: changes and plain appends are refused.
	execAll(t, s, h.BreakAudit)
	e = event("key.revoke", "key:key000000003")
	refused(e, s.RevokeKey(ctx(), "key000000003", t0, a(e)), store.ErrNotAudited)
	e = event("consumer.delete", "consumer:consA")
	refused(e, s.DeleteConsumer(ctx(), "consA", t0, a(e)), store.ErrNotAudited)
	e = event("key.get", "key:key000000003")
	refused(e, s.AppendAudit(ctx(), e, c), store.ErrNotAudited)
	execAll(t, s, h.MendAudit)

	e = event("key.revoke", "key:key000000003")
	ok(e, s.RevokeKey(ctx(), "key000000003", t0, a(e)))
	e = event("key.get", "key:key000000003")
	ok(e, s.AppendAudit(ctx(), e, c))
	e = event("consumer.delete", "consumer:consA")
	ok(e, s.DeleteConsumer(ctx(), "consA", t0, a(e)))

	evs, err := s.ListAudit(ctx(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, ev := range evs {
		if ev.Seq != int64(i+1) || ev.Actor != "token:abc" || ev.Role != "admin" || ev.SourceIP != "192.0.2.1" ||
			ev.Outcome != audit.OutcomeSuccess || ev.Status != 200 || !ev.Time.Equal(t0) {
			t.Fatalf("stored event %+v", ev)
		}
		got = append(got, ev.Action+" "+ev.Target)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
	if n, err := c.Verify(ctx(), s); err != nil || n != int64(len(want)) {
		t.Fatalf("verify = %d, %v; want %d", n, err, len(want))
	}
}

func testBootstrapAdminToken(t *testing.T, h Harness) {
	s := h.Open(t)
	c := chainer(t)
	tok := func(id string) *store.AdminToken {
		return &store.AdminToken{ID: id, Name: "root", Role: "admin", Hash: []byte("h" + id), CreatedBy: "cli:bootstrap", CreatedAt: t0}
	}
	e := event("admin_token.bootstrap", "admin_token:tok000000001")
	if err := s.BootstrapAdminToken(ctx(), tok("tok000000001"), &store.Audit{Event: e, Chain: c}); err != nil {
		t.Fatal(err)
	}
	e2 := event("admin_token.bootstrap", "admin_token:tok000000002")
	if err := s.BootstrapAdminToken(ctx(), tok("tok000000002"), &store.Audit{Event: e2, Chain: c}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second bootstrap: err = %v, want ErrConflict", err)
	}
	if _, err := s.GetAdminToken(ctx(), "tok000000002"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused bootstrap stored its token: %v", err)
	}
	// Once every token is revoked, bootstrap works again (recovery).
	if err := s.RevokeAdminToken(ctx(), "tok000000001", t0, nil); err != nil {
		t.Fatal(err)
	}
	expiring := tok("tok000000003")
	expiring.ExpiresAt = t0.Add(time.Hour)
	if err := s.BootstrapAdminToken(ctx(), expiring, nil); err != nil {
		t.Fatalf("bootstrap after revoking every token: %v", err)
	}
	// An expired token does not count either: expiry cannot lock everyone
	// out of the admin API.
	later := tok("tok000000004")
	later.CreatedAt = t0.Add(2 * time.Hour)
	if n, err := s.CountAdminTokens(ctx(), later.CreatedAt); err != nil || n != 0 {
		t.Fatalf("usable tokens after the only one expired: %d, %v", n, err)
	}
	if err := s.BootstrapAdminToken(ctx(), later, nil); err != nil {
		t.Fatalf("bootstrap after every token expired: %v", err)
	}
	if err := s.BootstrapAdminToken(ctx(), tok("tok000000005"), nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("bootstrap while a token is usable: %v, want ErrConflict", err)
	}
	if n, err := c.Verify(ctx(), s); err != nil || n != 1 {
		t.Fatalf("verify = %d, %v; want 1 (the first bootstrap)", n, err)
	}
}

// Concurrent bootstraps, from two instances on one database: exactly one
// succeeds, the others get ErrConflict.
func testBootstrapRace(t *testing.T, h Harness) {
	s := h.Open(t)
	s2 := h.Reopen(t, s)
	c := chainer(t)
	const n = 8
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = s2
			}
			id := fmt.Sprintf("tok%09d", i)
			<-start
			errs[i] = st.BootstrapAdminToken(context.Background(), &store.AdminToken{ID: id, Name: "root", Role: "admin",
				Hash: []byte(id), CreatedBy: "cli:bootstrap", CreatedAt: t0},
				&store.Audit{Event: event("admin_token.bootstrap", "admin_token:"+id), Chain: c})
		}(i)
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("bootstrap %d: %v, want ErrConflict", i, err)
		}
	}
	if cnt, err := s.CountAdminTokens(ctx(), t0); won != 1 || err != nil || cnt != 1 {
		t.Fatalf("%d bootstraps succeeded and %d tokens exist (%v); want exactly 1 and 1", won, cnt, err)
	}
	if v, err := c.Verify(ctx(), s); err != nil || v != 1 {
		t.Fatalf("verify = %d, %v; want the one bootstrap event", v, err)
	}
}
