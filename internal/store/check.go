package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// CheckSQLitePath reports what would stop OpenSQLite from creating or
// opening the database at path, without creating or changing anything: a
// missing or read-only directory, a path that is a directory.
func CheckSQLitePath(path string) error {
	if path == "" || strings.ContainsAny(path, "?#") {
		return errors.New("must be a file path without ? or #")
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case err == nil:
		if err := accessRW(path); err != nil {
			return fmt.Errorf("%s cannot be opened for reading and writing: %v", path, err)
		}
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s: %v", path, err)
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("the directory %s does not exist (create it, owned by the gateway's user, mode 0700; systemd's StateDirectory= does)", dir)
	case err != nil:
		return fmt.Errorf("the directory %s: %v", dir, err)
	case !di.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	// SQLite writes the database, its -wal and -shm files there.
	if err := accessDirWrite(dir); err != nil {
		return fmt.Errorf("the database cannot be created in %s: %v", dir, err)
	}
	return nil
}

// CheckPostgresDSN reports whether dsn parses as OpenPostgres will parse
// it, without connecting. The message never repeats the DSN: it carries a
// password.
func CheckPostgresDSN(dsn string) error {
	if _, err := pgx.ParseConfig(dsn); err != nil {
		return errors.New("cannot be parsed (want postgres://user:password@host:5432/db?sslmode=verify-full, or key=value pairs)")
	}
	return nil
}

// ProbePostgres connects to dsn, without migrating or writing anything,
// and checks the schema is not newer than this binary knows: validate
// --online. Errors never contain the DSN.
func ProbePostgres(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return errors.New("the connection string (keys.store.dsn) cannot be parsed")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("cannot connect to PostgreSQL at %s:%d: %v", cfg.Host, cfg.Port, errors.Unwrap(err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("PostgreSQL answered with an error: %v", err)
	}
	if !exists {
		return nil // a new database: serve creates the schema
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("reading the schema version: %v", err)
	}
	return checkSchemaVersion("postgres", current)
}

func checkSchemaVersion(dialect string, current int) error {
	ms, err := loadMigrations(dialect)
	if err != nil {
		return err
	}
	if current > len(ms) {
		return fmt.Errorf("the database schema is at version %d, newer than this binary knows (%d): upgrade portcullis", current, len(ms))
	}
	return nil
}
