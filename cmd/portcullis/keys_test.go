package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/pki"
)

func randB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// cliConfig writes a TLS certificate (from a new CA) and a config with one
// api_key route, the given keys block body and, if withAdmin, the admin
// API to dir.
func cliConfig(t *testing.T, dir, keysBlock string, withAdmin bool) (cfgFile, caFile string) {
	t.Helper()
	ca, err := pki.NewCA("cli test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "admin", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := leaf.WriteFiles(dir, "admin")
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.crt")
	if err := ca.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	cfgFile = filepath.Join(dir, "portcullis.yaml")
	cfgText := `
listeners:
  - address: "127.0.0.1:0"
    tls: {cert_file: "` + certFile + `", key_file: "` + keyFile + `"}
upstreams:
  - name: api
    targets: ["http://127.0.0.1:9"]
routes:
  - name: r
    prefix: /
    upstream: api
    auth: {authenticators: [keys]}
authenticators:
  - name: keys
    api_key: {}
keys:` + keysBlock + "\n"
	if withAdmin {
		cfgText += `admin:
  enabled: true
  address: "127.0.0.1:0"
  tls: {cert_file: "` + certFile + `", key_file: "` + keyFile + `"}
`
	}
	if err := os.WriteFile(cfgFile, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgFile, caFile
}

// runCmd runs the CLI in process and returns exit code, stdout, stderr.
// The control-plane commands against a running admin API, as an operator
// would use them: bootstrap, consumers, keys, rotation, revocation, rekey.
func TestControlPlaneCommands(t *testing.T) {
	dir := t.TempDir()
	cfgFile, caFile := cliConfig(t, dir, `
  store:
    path: "`+filepath.Join(dir, "keys.db")+`"`, true)
	v1 := "v1:" + randB64(32)
	t.Setenv("PORTCULLIS_PEPPER", randB64(40))
	t.Setenv("PORTCULLIS_MASTER_KEY", v1)

	if code, out, errOut := runCmd("validate", "--config", cfgFile); code != 0 {
		t.Fatalf("validate: %d %s %s", code, out, errOut)
	}

	code, token, errOut := runCmd("admin", "bootstrap", "--config", cfgFile, "--name", "first")
	token = strings.TrimSpace(token)
	if code != 0 || !strings.HasPrefix(token, "pcl_admin_") || !strings.Contains(errOut, "printed once") {
		t.Fatalf("bootstrap: %d %q %s", code, token, errOut)
	}
	if code, _, errOut := runCmd("admin", "bootstrap", "--config", cfgFile); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("second bootstrap: %d %s", code, errOut)
	}

	// The running gateway's admin API, built as serve builds it.
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := keys.Open(context.Background(), cfg.Keys, os.LookupEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	adm, err := admin.New(cfg.Admin, admin.Deps{Keys: svc})
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.Start(); err != nil {
		t.Fatal(err)
	}
	defer adm.Shutdown(context.Background())

	if code, _, errOut := runCmd("consumers", "list", "--admin-url", "https://"+adm.Addr(), "--ca-file", caFile); code != 2 || !strings.Contains(errOut, "PORTCULLIS_ADMIN_TOKEN") {
		t.Fatalf("without a token: %d %s", code, errOut)
	}
	t.Setenv("PORTCULLIS_ADMIN_URL", "https://"+adm.Addr())
	t.Setenv("PORTCULLIS_ADMIN_CA", caFile)
	t.Setenv("PORTCULLIS_ADMIN_TOKEN", token)

	var consumer keys.Consumer
	mustJSON(t, &consumer)("consumers", "create", "--name", "acme", "--group", "partners", "--tier", "gold", "--contact", "ops@acme.example")
	if consumer.Name != "acme" || consumer.Groups[0] != "partners" || consumer.Contact != "ops@acme.example" {
		t.Fatalf("consumer = %+v", consumer)
	}
	var issued keys.Issued
	mustJSON(t, &issued)("keys", "create", "--consumer", consumer.ID, "--scope", "accounts:read", "--scope", "fx:read",
		"--expires-in", "30d", "--cidr", "10.0.0.0/8", "--label", "app=web", "--notes", "mobile")
	if issued.Key.Scopes[1] != "fx:read" || issued.Key.AllowedCIDRs[0] != "10.0.0.0/8" || issued.Key.Labels["app"] != "web" ||
		!strings.HasPrefix(issued.Secret, "pcl_live_"+issued.Key.ID+"_") {
		t.Fatalf("issued = %+v", issued.Key)
	}
	var got keys.Key
	mustJSON(t, &got)("keys", "get", issued.Key.ID)
	var listed struct{ Data []keys.Key }
	mustJSON(t, &listed)("keys", "list", "--consumer", consumer.ID)
	if got.ID != issued.Key.ID || len(listed.Data) != 1 {
		t.Fatalf("get/list = %+v %+v", got, listed)
	}
	var rotated struct {
		Key      keys.Key
		Secret   string
		Previous keys.Key
	}
	mustJSON(t, &rotated)("keys", "rotate", issued.Key.ID, "--grace", "1h")
	if rotated.Previous.State != "rotating" || rotated.Key.PredecessorID != issued.Key.ID {
		t.Fatalf("rotate = %+v", rotated)
	}
	var revoked keys.Key
	mustJSON(t, &revoked)("keys", "revoke", rotated.Key.ID)
	if revoked.State != "revoked" {
		t.Fatalf("revoke = %+v", revoked)
	}
	var updated keys.Consumer
	mustJSON(t, &updated)("consumers", "update", consumer.ID, "--disable", "--notes", "paused")
	if !updated.Disabled || updated.Notes != "paused" || updated.Name != "acme" || updated.Contact != "ops@acme.example" {
		t.Fatalf("update = %+v", updated)
	}
	if code, _, errOut := runCmd("consumers", "get", "AAAAAAAAAAAA"); code != 1 || !strings.Contains(errOut, "404 Not Found") {
		t.Fatalf("get missing: %d %s", code, errOut)
	}
	if code, _, errOut := runCmd("keys", "create", "--consumer", consumer.ID, "--scope", "bad scope"); code != 1 || !strings.Contains(errOut, "scopes[0]") {
		t.Fatalf("invalid scope: %d %s", code, errOut)
	}
	if code, _, errOut := runCmd("consumers", "delete", consumer.ID); code != 0 || !strings.Contains(errOut, "revoked") {
		t.Fatalf("delete: %d %s", code, errOut)
	}

	// Master key rotation in the documented order: add v2 to every
	// instance, restart them, rekey, then v1 can go. The rekey is refused
	// while the running gateway still holds only v1.
	v2 := "v2:" + randB64(32)
	t.Setenv("PORTCULLIS_MASTER_KEY", v2+","+v1)
	if code, out, errOut := runCmd("keys", "rekey", "--config", cfgFile); code != 1 || out != "" ||
		!strings.Contains(errOut, "rekey refused: 1 live instance(s) do not hold master key v2") || !strings.Contains(errOut, "holds v1") {
		t.Fatalf("rekey while the gateway lacks v2: %d %q %s", code, out, errOut)
	}
	adm.Shutdown(context.Background())
	svc.Close()
	svc, err = keys.Open(context.Background(), cfg.Keys, os.LookupEnv, nil) // restarted with v2,v1
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	var res keys.RekeyResult
	mustJSON(t, &res)("keys", "rekey", "--config", cfgFile)
	if res.Current != 2 || res.Rekeyed != res.Examined || res.Examined < 3 {
		t.Fatalf("rekey = %+v", res)
	}
	t.Setenv("PORTCULLIS_MASTER_KEY", v2)
	mustJSON(t, &res)("keys", "rekey", "--config", cfgFile)
	if res.Rekeyed != 0 {
		t.Fatalf("second rekey = %+v", res)
	}

	t.Setenv("PORTCULLIS_PEPPER", "")
	if code, _, errOut := runCmd("validate", "--config", cfgFile); code != 1 || !strings.Contains(errOut, "keys.pepper.env: environment variable PORTCULLIS_PEPPER is not set") {
		t.Fatalf("validate without a pepper: %d %s", code, errOut)
	}
}

// mustJSON runs a command that must succeed and decodes its output.
func mustJSON(t *testing.T, v any) func(args ...string) {
	return func(args ...string) {
		t.Helper()
		code, out, errOut := runCmd(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"keys"}, {"consumers", "--help"}, {"admin", "--help"}} {
		if code, out, errOut := runCmd(args...); code != 0 || out+errOut == "" {
			t.Errorf("%v: %d", args, code)
		}
	}
	for _, args := range [][]string{{"keys", "frobnicate"}, {"keys", "get"}, {"keys", "get", "a", "b"}, {"consumers", "update"}, {"admin", "nope"}} {
		if code, _, _ := runCmd(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
