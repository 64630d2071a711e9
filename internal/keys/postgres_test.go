package keys_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/testenv"
)

// When the database becomes unreachable, keys verified before keep working
// past their ttl for stale_if_error, /readyz says so, unknown keys fail
// closed (a technical error, not a 401), and everything recovers when the
// database is back.
func TestStaleIfErrorPostgres(t *testing.T) {
	dsn := pg.Database(t)
	keystest.Postgres(t, dsn) // migrate directly
	proxy := testenv.NewProxy(t, testenv.Addr(pg.Port()))
	st := keystest.Postgres(t, strings.Replace(dsn, testenv.Addr(pg.Port()), proxy.Addr(), 1))
	clock := testenv.NewClock(t0)
	svc := keystest.Service(t, st, keystest.NewSecrets(t), keys.Options{
		Clock: clock, CacheTTL: 10 * time.Second, StaleIfError: time.Minute,
	})
	c := keystest.Consumer(t, svc, "acme")
	k := keystest.Key(t, svc, c.ID)
	if r := reason(t, svc, k.Secret, clientIP); r != "" {
		t.Fatal(r)
	}
	if err := svc.Ready(); err != nil {
		t.Fatalf("Ready before the outage: %v", err)
	}

	proxy.Cut()
	clock.Advance(11 * time.Second) // past the ttl: the next use tries the store
	if r := reason(t, svc, k.Secret, clientIP); r != "" {
		t.Fatalf("cached key during the outage: %q", r)
	}
	if svc.Stats().Stale.Load() != 1 {
		t.Fatalf("stale serves = %d", svc.Stats().Stale.Load())
	}
	var deg *keys.DegradedError
	if err := svc.Ready(); !errors.As(err, &deg) || !strings.Contains(err.Error(), "serving 1 cached keys") {
		t.Fatalf("Ready during the outage = %v", err)
	}
	unknown, _, _ := keys.Generate(keys.KindLive)
	_, err := svc.Verify(bg, unknown, clientIP)
	var rej *keys.Rejection
	if err == nil || errors.As(err, &rej) {
		t.Fatalf("unknown key during the outage: %v, want a technical error", err)
	}
	clock.Advance(time.Minute) // past ttl + stale_if_error
	if _, err := svc.Verify(bg, k.Secret, clientIP); err == nil || errors.As(err, &rej) {
		t.Fatalf("cached key after stale_if_error: %v, want a technical error", err)
	}

	proxy.Restore()
	if r := reason(t, svc, k.Secret, clientIP); r != "" {
		t.Fatalf("after the outage: %q", r)
	}
	deadline := time.Now().Add(15 * time.Second)
	for svc.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still not ready 15s after the outage: %v", svc.Ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two services on one PostgreSQL: a revocation made through one stops the
// key on the other, whose cache ttl is an hour, within a second.
func TestRevocationAcrossInstancesPostgres(t *testing.T) {
	dsn := pg.Database(t)
	sec := keystest.NewSecrets(t)
	a := keystest.Service(t, keystest.Postgres(t, dsn), sec, keys.Options{CacheTTL: time.Hour})
	b := keystest.Service(t, keystest.Postgres(t, dsn), sec, keys.Options{CacheTTL: time.Hour})
	c := keystest.Consumer(t, a, "acme")
	k := keystest.Key(t, a, c.ID)
	if r := reason(t, b, k.Secret, clientIP); r != "" {
		t.Fatal(r)
	}
	if r := reason(t, b, k.Secret, clientIP); r != "" || b.Stats().Hits.Load() != 1 {
		t.Fatalf("b did not cache the key (%q)", r)
	}
	start := time.Now()
	if _, err := a.RevokeKey(bg, k.Key.ID); err != nil {
		t.Fatal(err)
	}
	for reason(t, b, k.Secret, clientIP) == "" {
		if time.Since(start) > time.Second {
			t.Fatal("the revocation did not reach the other instance within 1s")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("revocation reached the other instance in %v", time.Since(start))
}

// Concurrent bootstraps from several services, each with its own
// connections to one PostgreSQL (as separate "admin bootstrap" processes
// would have): exactly one mints the first admin token, the others get
// ErrAlreadyBootstrapped.
func TestBootstrapRacePostgres(t *testing.T) {
	dsn := pg.Database(t)
	sec := keystest.NewSecrets(t)
	const n = 8
	svcs := make([]*keys.Service, n)
	for i := range svcs {
		svcs[i] = keystest.Service(t, keystest.Postgres(t, dsn), sec, keys.Options{})
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, svc := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = svc.Bootstrap(bg, "first")
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, keys.ErrAlreadyBootstrapped):
			t.Errorf("bootstrap %d: %v, want ErrAlreadyBootstrapped", i, err)
		}
	}
	toks, _, err := svcs[0].ListAdminTokens(bg, "", 100)
	if won != 1 || err != nil || len(toks) != 1 {
		t.Fatalf("%d bootstraps succeeded and %d admin tokens exist (%v); want exactly 1 and 1", won, len(toks), err)
	}
	if v, err := svcs[0].VerifyAudit(bg); err != nil || v != 1 {
		t.Fatalf("audit trail: %d events, %v; want the one bootstrap", v, err)
	}
}

// stale_if_error: 0s means a cached key is never used past its ttl while
// the store is unreachable: it fails closed at once (it was once replaced
// by the 15m default).
func TestStaleIfErrorZeroPostgres(t *testing.T) {
	dsn := pg.Database(t)
	keystest.Postgres(t, dsn)
	proxy := testenv.NewProxy(t, testenv.Addr(pg.Port()))
	st := keystest.Postgres(t, strings.Replace(dsn, testenv.Addr(pg.Port()), proxy.Addr(), 1))
	clock := testenv.NewClock(t0)
	o := keys.DefaultOptions()
	o.Store, o.Secrets, o.Clock = st, keystest.NewSecrets(t).Secrets, clock
	o.CacheTTL, o.StaleIfError = 10*time.Second, 0
	svc, err := keys.NewService(o)
	if err != nil {
		t.Fatal(err)
	}
	svc.Start()
	t.Cleanup(func() { _ = svc.Close() })
	c := keystest.Consumer(t, svc, "acme")
	k := keystest.Key(t, svc, c.ID)
	if r := reason(t, svc, k.Secret, clientIP); r != "" {
		t.Fatal(r)
	}
	proxy.Cut()
	clock.Advance(11 * time.Second)
	var rej *keys.Rejection
	if _, err := svc.Verify(bg, k.Secret, clientIP); err == nil || errors.As(err, &rej) {
		t.Fatalf("cached key past its ttl with stale_if_error 0: %v, want a technical error", err)
	}
	if n := svc.Stats().Stale.Load(); n != 0 {
		t.Fatalf("stale serves = %d, want 0", n)
	}
}
