package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/store"
)

// seedV1 makes db a database as a binary of schema version 1 left it: the
// first migration applied and one consumer in it.
func seedV1(t *testing.T, db *sql.DB, dialect string) {
	t.Helper()
	init, err := os.ReadFile(filepath.Join("migrations", dialect, "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
		string(init),
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'init', 1)`,
		`INSERT INTO consumers (id, name, created_at, updated_at) VALUES ('consOld', 'old', 1, 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
}

// upgraded checks a store opened on a version-1 database: migration 0002
// ran, the old consumer is there and can own signing keys.
func upgraded(t *testing.T, s store.Store) {
	t.Helper()
	if c, err := s.GetConsumer(context.Background(), "consOld"); err != nil || c.Name != "old" {
		t.Fatalf("consumer after the upgrade: %+v, %v", c, err)
	}
	k := &store.SigningKey{ID: "sk0000000001", ConsumerID: "consOld", KeyID: "k1", Alg: "ed25519", Sealed: []byte("x"),
		State: store.StateActive, CreatedAt: time.Unix(1, 0)}
	if err := s.CreateSigningKey(context.Background(), k, nil); err != nil {
		t.Fatalf("signing key after the upgrade: %v", err)
	}
	var top int
	if err := s.(interface{ DB() *sql.DB }).DB().QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&top); err != nil || top != 4 {
		t.Fatalf("schema version %d, %v; want 4 (0002 signing keys, 0003 secret versions, 0004 console sessions)", top, err)
	}
}

func TestSQLiteUpgradeFromV1(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys.db")
	db, err := sql.Open("sqlite", "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	seedV1(t, db, "sqlite")
	db.Close()
	upgraded(t, openSQLite(t, p))
}

func TestPostgresUpgradeFromV1(t *testing.T) {
	dsn := pg.Database(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	seedV1(t, db, "postgres")
	db.Close()
	upgraded(t, openPostgres(t, dsn))
}
