package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/secmon"
)

// The security commands against a running admin API: list the blocks a
// detector imposed, read the events, lift a block.
func TestSecurityCommands(t *testing.T) {
	dir := t.TempDir()
	cfgFile, caFile := cliConfig(t, dir, `
  store:
    path: "`+filepath.Join(dir, "keys.db")+`"`, true)
	t.Setenv("PORTCULLIS_PEPPER", randB64(40))
	t.Setenv("PORTCULLIS_MASTER_KEY", "v1:"+randB64(32))
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := keys.Open(context.Background(), cfg.Keys, os.LookupEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	boot, err := svc.Bootstrap(context.Background(), "cli")
	if err != nil {
		t.Fatal(err)
	}
	sc := cfg.Security
	off := false
	sc.Log.Enabled = &off
	mon, err := secmon.New(secmon.Options{Config: sc, Auditor: svc})
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close()
	adm, err := admin.New(cfg.Admin, admin.Deps{Keys: svc, Security: mon})
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.Start(); err != nil {
		t.Fatal(err)
	}
	defer adm.Shutdown(context.Background())
	t.Setenv("PORTCULLIS_ADMIN_URL", "https://"+adm.Addr())
	t.Setenv("PORTCULLIS_ADMIN_CA", caFile)
	t.Setenv("PORTCULLIS_ADMIN_TOKEN", boot.Secret)

	// Ten distinct credentials fail from one address: the default
	// credential stuffing rule blocks it.
	ip := netip.MustParseAddr("203.0.113.66")
	for i := range 10 {
		mon.Emit(secevent.Event{Type: secevent.AuthFailure, ClientIP: ip, Credential: fmt.Sprint("k", i)})
	}
	var list struct{ Data []secmon.Block }
	for range 500 {
		mustJSON(t, &list)("security", "blocks", "list")
		if len(list.Data) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond) // the monitor's goroutine imposes it
	}
	if len(list.Data) != 1 || list.Data[0].Value != "203.0.113.66" || list.Data[0].Detector != "credential_stuffing" {
		t.Fatalf("blocks = %+v", list.Data)
	}
	var evs struct{ Data []secmon.EventView }
	mustJSON(t, &evs)("security", "events", "--type", "detection", "--client-ip", "203.0.113.66", "--since", "1h")
	if len(evs.Data) != 1 || evs.Data[0].Detector != "credential_stuffing" {
		t.Fatalf("events = %+v", evs.Data)
	}
	if code, _, errOut := runCmd("security", "blocks", "lift", list.Data[0].ID); code != 0 || !strings.Contains(errOut, "Lifted") {
		t.Fatalf("lift: %d %s", code, errOut)
	}
	mustJSON(t, &list)("security", "blocks", "list")
	if len(list.Data) != 0 {
		t.Fatalf("after the lift: %+v", list.Data)
	}
	if code, _, errOut := runCmd("security", "blocks", "lift", "AAAAAAAAAAAA"); code != 1 || !strings.Contains(errOut, "404") {
		t.Fatalf("lifting an unknown block: %d %s", code, errOut)
	}
	if code, _, errOut := runCmd("security", "events", "--type", "nonsense"); code != 1 || !strings.Contains(errOut, "type: must be a security event type") {
		t.Fatalf("bad filter: %d %s", code, errOut)
	}
	if code, _, _ := runCmd("security", "blocks"); code != 2 {
		t.Fatalf("usage: %d", code)
	}
}
