package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Options are common to both stores.
type Options struct {
	// MaxConns bounds open connections. Default 10.
	MaxConns int
	// Timeout bounds each operation. Default 2s.
	Timeout time.Duration
	// Now is the clock migrations are stamped with. Default time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.MaxConns <= 0 {
		o.MaxConns = 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// SQLite is the embedded store: one file, one gateway instance. Its change
// feed is in process, so a revocation reaches the cache before the admin
// call returns.
type SQLite struct {
	sqlStore
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating it with mode 0600 if missing) the database at
// path, in WAL mode, and applies pending migrations.
func OpenSQLite(ctx context.Context, path string, o Options) (*SQLite, error) {
	o.defaults()
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, errors.New("sqlite: path must be a file path without ? or #")
	}
	// Create the file ourselves so it is never readable by others: it holds
	// key hashes and the audit trail.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	f.Close()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	// Writers take the write lock when the transaction begins, so a
	// read-then-write transaction never fails to upgrade under contention.
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db.SetMaxOpenConns(o.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &SQLite{sqlStore{db: db, timeout: o.Timeout, d: &dialect{
		name:     "sqlite",
		greatest: "MAX",
		isUnique: func(err error) bool {
			var se *sqlite.Error
			if errors.As(err, &se) {
				c := se.Code()
				return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
			}
			return false
		},
	}}}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := migrate(mctx, db, s.d, o.Now()); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return s, nil
}

// Watch implements Store: changes are delivered in process, synchronously,
// after each commit.
func (s *SQLite) Watch(ctx context.Context, fn func(Change)) error { return s.watchLocal(ctx, fn) }

// FeedErr implements Store: the in-process feed cannot fail.
func (s *SQLite) FeedErr() error { return nil }

// Close implements Store.
func (s *SQLite) Close() error { return s.db.Close() }
