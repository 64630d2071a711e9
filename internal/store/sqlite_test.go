package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/store/storetest"
)

func openSQLite(t *testing.T, path string) store.Store {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteConformance(t *testing.T) {
	paths := map[store.Store]string{}
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) store.Store {
			p := filepath.Join(t.TempDir(), "keys.db")
			s := openSQLite(t, p)
			paths[s] = p
			return s
		},
		Reopen: func(t *testing.T, s store.Store) store.Store { return openSQLite(t, paths[s]) },
		DropAuditGuard: []string{
			`DROP TRIGGER audit_events_no_update`,
			`DROP TRIGGER audit_events_no_delete`,
		},
		BreakAudit: []string{`CREATE TRIGGER storetest_audit_down BEFORE INSERT ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit trail down (test)'); END`},
		MendAudit: []string{`DROP TRIGGER storetest_audit_down`},
	})
}

func TestSQLiteFileMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys.db")
	openSQLite(t, p)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Fatalf("database file mode = %o, want 600", m)
	}
}

func TestSQLiteRejectsBadPath(t *testing.T) {
	for _, p := range []string{"", "keys.db?mode=memory", "a#b"} {
		if _, err := store.OpenSQLite(context.Background(), p, store.Options{}); err == nil {
			t.Errorf("OpenSQLite(%q) succeeded", p)
		}
	}
}
