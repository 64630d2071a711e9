package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// notifyChannel is the LISTEN/NOTIFY channel of the change feed.
const notifyChannel = "portcullis_changes"

// Lock ids for pg_advisory_*lock: arbitrary constants owned by Portcullis.
const (
	migrateLockID = 7_207_411_001
	auditLockID   = 7_207_411_002
)

// Postgres is the store for several gateway instances. Changes are
// published with pg_notify inside the transaction that makes them, so
// every instance hears of a revocation when it commits.
type Postgres struct {
	sqlStore
	connCfg *pgx.ConnConfig

	feedMu  sync.Mutex
	feedErr error
	// watchIdle is how long the feed waits for a notification before
	// checking its connection is still alive.
	watchIdle time.Duration
}

var _ Store = (*Postgres)(nil)

// OpenPostgres connects to dsn and applies pending migrations (serialised
// across instances by an advisory lock). Errors never contain the DSN.
func OpenPostgres(ctx context.Context, dsn string, o Options) (*Postgres, error) {
	o.defaults()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("postgres: the connection string (keys.store.dsn) cannot be parsed")
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > o.Timeout {
		cfg.ConnectTimeout = o.Timeout
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(o.MaxConns)
	db.SetMaxIdleConns(o.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	p := &Postgres{
		sqlStore: sqlStore{db: db, timeout: o.Timeout, d: &dialect{
			name:          "postgres",
			numbered:      true,
			greatest:      "GREATEST",
			auditLock:     fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", auditLockID),
			tokenLock:     "LOCK TABLE admin_tokens IN SHARE ROW EXCLUSIVE MODE",
			migrateLock:   fmt.Sprintf("SELECT pg_advisory_lock(%d)", migrateLockID),
			migrateUnlock: fmt.Sprintf("SELECT pg_advisory_unlock(%d)", migrateLockID),
			isUnique: func(err error) bool {
				var pe *pgconn.PgError
				return errors.As(err, &pe) && pe.Code == "23505"
			},
			notify: func(ctx context.Context, tx *sql.Tx, c Change) error {
				_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, changePayload(c))
				return err
			},
		}},
		connCfg:   cfg,
		feedErr:   errors.New("change feed not started"),
		watchIdle: 10 * time.Second,
	}
	mctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := migrate(mctx, db, p.d, o.Now()); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return p, nil
}

// FeedErr implements Store.
func (p *Postgres) FeedErr() error {
	p.feedMu.Lock()
	defer p.feedMu.Unlock()
	return p.feedErr
}

func (p *Postgres) setFeedErr(err error) {
	p.feedMu.Lock()
	p.feedErr = err
	p.feedMu.Unlock()
}

// Watch implements Store: it LISTENs on its own connection and reconnects
// with backoff when the connection fails. Every (re)connection starts with a
// FeedReset, because notifications sent while it was down are lost.
func (p *Postgres) Watch(ctx context.Context, fn func(Change)) error {
	backoff := 100 * time.Millisecond
	for {
		live, err := p.listen(ctx, fn)
		if ctx.Err() != nil {
			p.setFeedErr(errors.New("change feed stopped"))
			return nil
		}
		p.setFeedErr(fmt.Errorf("change feed down: %w", err))
		if live {
			backoff = 100 * time.Millisecond
			fn(Change{Kind: FeedDown, Err: err})
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			p.setFeedErr(errors.New("change feed stopped"))
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// listen runs one LISTEN connection until it fails; live reports whether it
// got as far as listening.
func (p *Postgres) listen(ctx context.Context, fn func(Change)) (live bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	conn, err := pgx.ConnectConfig(cctx, p.connCfg.Copy())
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return false, err
	}
	p.setFeedErr(nil)
	fn(Change{Kind: FeedReset})
	for {
		wctx, cancel := context.WithTimeout(ctx, p.watchIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			if c, ok := parseChangePayload(n.Payload); ok {
				fn(c)
			} else {
				// Unknown payload: be safe and drop everything.
				fn(Change{Kind: FeedReset})
			}
			continue
		case ctx.Err() != nil:
			return true, ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err):
			return true, err
		}
		// Idle: make sure the connection is alive, since a silently dropped
		// one would lose notifications without any error.
		pctx, cancel := context.WithTimeout(ctx, p.timeout)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return true, err
		}
	}
}

// Close implements Store.
func (p *Postgres) Close() error { return p.db.Close() }
