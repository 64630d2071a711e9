package server_test

import (
	"os"
	"strings"
	"testing"
)

// Status names the serving configuration by version and reports the last
// reload: a failed reload keeps the version and says why, a good one
// changes it.
func TestStatusFollowsReloads(t *testing.T) {
	a, b := named(t, "A"), named(t, "B")
	g := startGateway(t, reloadConfig, map[string]string{"UP": a.URL})
	first := g.srv.Status()
	if len(first.Version) != 12 || first.LoadedAt.IsZero() || first.LastReload != "" {
		t.Fatalf("at start: %+v", first)
	}
	if err := os.WriteFile(g.cfgPath, []byte("listeners: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.srv.ReloadFile(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	failed := g.srv.Status()
	if failed.Version != first.Version || failed.LastReload == "success" || failed.LastReload == "" || failed.LastReloadAt.IsZero() {
		t.Fatalf("after a failed reload: %+v", failed)
	}
	writeConfig(t, g, b.URL)
	if err := g.srv.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	ok := g.srv.Status()
	if ok.Version == first.Version || ok.LastReload != "success" {
		t.Fatalf("after a good reload: %+v (first %+v)", ok, first)
	}
	if strings.Contains(ok.Version, " ") {
		t.Fatalf("version %q", ok.Version)
	}
}
