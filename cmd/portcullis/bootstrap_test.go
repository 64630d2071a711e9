package main

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/testenv"
)

var pg = testenv.NewPostgres()

func TestMain(m *testing.M) { testenv.RunStopping(m, pg) }

// Several "admin bootstrap" runs at once against one PostgreSQL, each with
// its own connections as separate processes would have: exactly one mints
// a token, the others exit 1 with the usual message, and the audit trail
// holds the one bootstrap. The runs overlap only loosely (each loads its
// config and connects first), so the race itself is pinned down by
// keys.TestBootstrapRacePostgres and the BootstrapRace conformance test,
// which release every caller at once.
func TestAdminBootstrapRacePostgres(t *testing.T) {
	dir := t.TempDir()
	cfgFile, _ := cliConfig(t, dir, `
  store:
    driver: postgres
    dsn: ${PORTCULLIS_TEST_DSN}`, false)
	t.Setenv("PORTCULLIS_TEST_DSN", pg.Database(t))
	t.Setenv("PORTCULLIS_PEPPER", randB64(40))
	t.Setenv("PORTCULLIS_MASTER_KEY", "v1:"+randB64(32))
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	// Migrate first, so the runs do not queue up behind each other's
	// migrations and really overlap.
	st, err := keys.OpenStore(context.Background(), cfg.Keys)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	const n = 6
	type result struct {
		code        int
		out, errOut string
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code, out, errOut := runCmd("admin", "bootstrap", "--config", cfgFile, "--name", "first")
			results[i] = result{code, out, errOut}
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for i, r := range results {
		switch {
		case r.code == 0 && strings.HasPrefix(strings.TrimSpace(r.out), "pcl_admin_"):
			won++
		case r.code == 1 && r.out == "" && strings.Contains(r.errOut, "admin bootstrap: an admin token already exists"):
		default:
			t.Errorf("bootstrap %d: exit %d, stdout %q, stderr %q", i, r.code, r.out, r.errOut)
		}
	}
	if won != 1 {
		t.Fatalf("%d bootstraps succeeded, want exactly 1", won)
	}

	svc, err := keys.Open(context.Background(), cfg.Keys, os.LookupEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if c, err := svc.Store().CountAdminTokens(context.Background(), time.Now()); err != nil || c != 1 {
		t.Fatalf("admin tokens = %d, %v; want 1", c, err)
	}
	evs, err := svc.ListAudit(context.Background(), 0, 100)
	if err != nil || len(evs) != 1 || evs[0].Action != "admin_token.bootstrap" {
		t.Fatalf("audit trail = %+v, %v; want the one bootstrap", evs, err)
	}
	if v, err := svc.VerifyAudit(context.Background()); err != nil || v != 1 {
		t.Fatalf("verify = %d, %v", v, err)
	}
}
