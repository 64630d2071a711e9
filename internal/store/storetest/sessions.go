package storetest

import (
	"bytes"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/store"
)

// Console sessions: found by id hash until they expire, on every instance
// of the store; ended one by one or all of a token's at once; expired
// rows are dropped when a session is created.
func testConsoleSessions(t *testing.T, h Harness) {
	a := h.Open(t)
	b := h.Reopen(t, a)
	mk := func(id byte, token string, created time.Time) *store.ConsoleSession {
		return &store.ConsoleSession{IDHash: bytes.Repeat([]byte{id}, 32), TokenID: token, Actor: "token:" + token,
			Role: "operator", CreatedAt: created, ExpiresAt: created.Add(15 * time.Minute)}
	}
	s1, s2, s3 := mk(1, "tokA", t0), mk(2, "tokA", t0), mk(3, "tokB", t0)
	for _, s := range []*store.ConsoleSession{s1, s2, s3} {
		if err := a.CreateConsoleSession(ctx(), s); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.CreateConsoleSession(ctx(), mk(1, "tokC", t0)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate id hash: %v, want ErrConflict", err)
	}
	for _, tc := range []struct {
		name string
		s    store.Store
		id   []byte
		at   time.Time
		ok   bool
	}{
		{"same instance", a, s1.IDHash, t0, true},
		{"other instance", b, s1.IDHash, t0.Add(time.Minute), true},
		{"at expiry", b, s1.IDHash, s1.ExpiresAt, false},
		{"unknown", a, bytes.Repeat([]byte{9}, 32), t0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.GetConsoleSession(ctx(), tc.id, tc.at)
			if !tc.ok {
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("got %+v, %v; want ErrNotFound", got, err)
				}
				return
			}
			if err != nil || got.TokenID != "tokA" || got.Role != "operator" || got.Actor != "token:tokA" ||
				!got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(s1.ExpiresAt) {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
	if err := b.DeleteConsoleSessionsOfToken(ctx(), "tokA"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*store.ConsoleSession{s1, s2} {
		if _, err := a.GetConsoleSession(ctx(), s.IDHash, t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a session of the ended token: %v", err)
		}
	}
	if _, err := a.GetConsoleSession(ctx(), s3.IDHash, t0); err != nil {
		t.Fatalf("another token's session ended too: %v", err)
	}
	if err := a.DeleteConsoleSession(ctx(), s3.IDHash); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetConsoleSession(ctx(), s3.IDHash, t0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after DeleteConsoleSession: %v", err)
	}
	// Creating a session later sweeps the expired ones out of the table.
	old := mk(4, "tokD", t0)
	if err := a.CreateConsoleSession(ctx(), old); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateConsoleSession(ctx(), mk(5, "tokD", old.ExpiresAt)); err != nil {
		t.Fatal(err)
	}
	var n int
	db := a.(interface{ DB() *sql.DB }).DB()
	if err := db.QueryRowContext(ctx(), `SELECT COUNT(*) FROM console_sessions`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("console_sessions rows = %d, %v; want 1 (the expired one swept)", n, err)
	}
}
