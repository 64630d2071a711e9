package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/store/storetest"
	"github.com/portcullis/portcullis/internal/testenv"
)

var pg = testenv.NewPostgres()

func TestMain(m *testing.M) { testenv.RunStopping(m, pg) }

func openPostgres(t *testing.T, dsn string) *store.Postgres {
	t.Helper()
	s, err := store.OpenPostgres(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPostgresConformance(t *testing.T) {
	dsns := map[store.Store]string{}
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) store.Store {
			dsn := pg.Database(t)
			s := openPostgres(t, dsn)
			dsns[s] = dsn
			return s
		},
		Reopen: func(t *testing.T, s store.Store) store.Store { return openPostgres(t, dsns[s]) },
		DropAuditGuard: []string{
			`DROP TRIGGER audit_events_no_change ON audit_events`,
		},
		BreakAudit: []string{
			`CREATE FUNCTION storetest_audit_down() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'audit trail down (test)'; END $$`,
			`CREATE TRIGGER storetest_audit_down BEFORE INSERT ON audit_events
FOR EACH ROW EXECUTE FUNCTION storetest_audit_down()`,
		},
		MendAudit: []string{
			`DROP TRIGGER storetest_audit_down ON audit_events`,
			`DROP FUNCTION storetest_audit_down()`,
		},
	})
}

func TestPostgresConcurrentMigrations(t *testing.T) {
	dsn := pg.Database(t)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			s, err := store.OpenPostgres(context.Background(), dsn, store.Options{})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
}

func TestPostgresBadDSNIsNotEchoed(t *testing.T) {
	_, err := store.OpenPostgres(context.Background(), "postgres://u:s3cret-pw@[::1/db", store.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("err = %v", err)
	}
}

// The change feed notices a dropped connection, says so, and comes back
// with a FeedReset (notifications sent while it was down are lost, so the
// cache must drop everything).
func TestPostgresFeedReconnects(t *testing.T) {
	dsn := pg.Database(t)
	openPostgres(t, dsn) // migrate
	proxy := testenv.NewProxy(t, testenv.Addr(pg.Port()))
	viaProxy := strings.Replace(dsn, testenv.Addr(pg.Port()), proxy.Addr(), 1)
	s := openPostgres(t, viaProxy)
	ch := make(chan store.Change, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Watch(ctx, func(c store.Change) { ch <- c }) }()
	defer func() { cancel(); <-done }()
	if c := <-ch; c.Kind != store.FeedReset {
		t.Fatalf("first change %+v", c)
	}
	proxy.Cut()
	deadline := time.Now().Add(10 * time.Second)
	for s.FeedErr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("FeedErr stayed nil after the connection was cut")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Fatal("Ping succeeded through a cut proxy")
	}
	select {
	case c := <-ch:
		if c.Kind != store.FeedDown || c.Err == nil {
			t.Fatalf("after the cut: %+v, want FeedDown with its error", c)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no FeedDown within 15s")
	}
	proxy.Restore()
	select {
	case c := <-ch:
		if c.Kind != store.FeedReset {
			t.Fatalf("after reconnect: %+v, want FeedReset", c)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the feed did not reconnect within 15s")
	}
	if err := s.FeedErr(); err != nil {
		t.Fatalf("FeedErr after reconnect: %v", err)
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping after restore: %v", err)
	}
}
