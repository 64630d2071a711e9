package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/idempotency"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/sharedstate"
)

// The signing-keys, identities and idempotency commands against a running
// admin API.
func TestIntegrityCommands(t *testing.T) {
	dir := t.TempDir()
	cfgFile, caFile := cliConfig(t, dir, `
  store:
    path: "`+filepath.Join(dir, "keys.db")+`"`, true)
	t.Setenv("PORTCULLIS_PEPPER", randB64(40))
	t.Setenv("PORTCULLIS_MASTER_KEY", "v1:"+randB64(32))
	code, token, errOut := runCmd("admin", "bootstrap", "--config", cfgFile)
	if code != 0 {
		t.Fatalf("bootstrap: %d %s", code, errOut)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := keys.Open(context.Background(), cfg.Keys, os.LookupEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	shared, err := sharedstate.NewMemory(100, sharedstate.MemoryOptions{Limits: sharedstate.Limits{MaxMetaBytes: 256, MaxValueBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	adm, err := admin.New(cfg.Admin, admin.Deps{Keys: svc, Idempotency: idempotency.NewAdmin(shared, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.Start(); err != nil {
		t.Fatal(err)
	}
	defer adm.Shutdown(context.Background())
	t.Setenv("PORTCULLIS_ADMIN_URL", "https://"+adm.Addr())
	t.Setenv("PORTCULLIS_ADMIN_CA", caFile)
	t.Setenv("PORTCULLIS_ADMIN_TOKEN", strings.TrimSpace(token))

	var consumer keys.Consumer
	mustJSON(t, &consumer)("consumers", "create", "--name", "acme")
	jwkFile := func(name, kid string, private bool) string {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		var k any = pub
		if private {
			k = priv
		}
		b, _ := jose.JSONWebKey{Key: k, KeyID: kid}.MarshalJSON()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var sk keys.SigningKey
	mustJSON(t, &sk)("signing-keys", "add", "--consumer", consumer.ID, "--jwk", jwkFile("k1.jwk", "client-2026", false))
	if sk.KeyID != "client-2026" || sk.Alg != "ed25519" || sk.State != "active" {
		t.Fatalf("add = %+v", sk)
	}
	if code, _, errOut := runCmd("signing-keys", "add", "--consumer", consumer.ID, "--jwk", jwkFile("priv.jwk", "p", true)); code != 2 || !strings.Contains(errOut, "private key") {
		t.Fatalf("a private JWK: %d %s", code, errOut)
	}
	var listed struct{ Data []keys.SigningKey }
	mustJSON(t, &listed)("signing-keys", "list", "--consumer", consumer.ID)
	var got keys.SigningKey
	mustJSON(t, &got)("signing-keys", "get", sk.ID)
	if len(listed.Data) != 1 || got.ID != sk.ID {
		t.Fatalf("list/get = %+v %+v", listed, got)
	}
	var rotated struct {
		keys.SigningKey
		Previous keys.SigningKey
	}
	mustJSON(t, &rotated)("signing-keys", "rotate", sk.ID, "--jwk", jwkFile("k2.jwk", "", false), "--key-id", "client-2027", "--grace", "1h")
	if rotated.KeyID != "client-2027" || rotated.Previous.State != "rotating" {
		t.Fatalf("rotate = %+v", rotated)
	}
	var revoked keys.SigningKey
	mustJSON(t, &revoked)("signing-keys", "revoke", rotated.ID)
	if revoked.State != "revoked" {
		t.Fatalf("revoke = %+v", revoked)
	}

	var id keys.Identity
	mustJSON(t, &id)("identities", "add", "--consumer", consumer.ID, "--issuer", "https://idp.example.com", "--client-id", "acme-app")
	var ids struct{ Data []keys.Identity }
	mustJSON(t, &ids)("identities", "list", "--consumer", consumer.ID)
	if id.ClientID != "acme-app" || len(ids.Data) != 1 {
		t.Fatalf("identities = %+v %+v", id, ids)
	}
	if code, _, errOut := runCmd("identities", "delete", id.ID); code != 0 {
		t.Fatalf("delete: %d %s", code, errOut)
	}

	// A key left in doubt, then resolved as processed with the answer.
	k := idempotency.StoreKey("", "c-1", "pay-1")
	owner := sharedstate.NewOwner()
	if _, ok, err := shared.Reserve(context.Background(), k, owner, idempotency.ReservationMeta(idempotency.Fingerprint{}, owner, time.Now()), time.Hour); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := shared.Complete(context.Background(), k, owner, sharedstate.InDoubt, idempotency.DoubtValue(idempotency.ReasonTimeout), time.Hour); err != nil {
		t.Fatal(err)
	}
	var st idempotency.KeyState
	mustJSON(t, &st)("idempotency", "lookup", "--consumer", "c-1", "--idempotency-key", "pay-1")
	if st.State != "in-doubt" || st.Reason != "timeout" {
		t.Fatalf("lookup = %+v", st)
	}
	body := filepath.Join(dir, "answer.json")
	_ = os.WriteFile(body, []byte(`{"id":"pay_1"}`), 0o600)
	mustJSON(t, &st)("idempotency", "resolve", "--consumer", "c-1", "--idempotency-key", "pay-1", "--outcome", "processed",
		"--status", "201", "--content-type", "application/json", "--body-file", body)
	if st.State != "done" || st.Status != 201 {
		t.Fatalf("resolve = %+v", st)
	}
	if code, _, errOut := runCmd("idempotency", "resolve", "--consumer", "c-1", "--idempotency-key", "pay-1", "--outcome", "not_processed"); code != 1 || !strings.Contains(errOut, "409") {
		t.Fatalf("resolving a done key: %d %s", code, errOut)
	}
	evs, _ := svc.ListAudit(context.Background(), 0, 1000)
	actions := map[string]bool{}
	for _, ev := range evs {
		actions[ev.Action] = true
	}
	for _, a := range []string{"signing_key.add", "signing_key.rotate", "signing_key.revoke", "identity.create", "identity.delete", "idempotency_key.resolve"} {
		if !actions[a] {
			t.Errorf("no audit event %s", a)
		}
	}
}

func TestIntegrityUsage(t *testing.T) {
	for _, args := range [][]string{{"signing-keys"}, {"identities", "--help"}, {"idempotency", "help"}} {
		if code, out, _ := runCmd(args...); code != 0 || out == "" {
			t.Errorf("%v: %d", args, code)
		}
	}
	for _, args := range [][]string{{"signing-keys", "add"}, {"signing-keys", "get"}, {"identities", "add", "--consumer", "x"},
		{"idempotency", "resolve", "--consumer", "c", "--idempotency-key", "k"}, {"idempotency", "nope"}} {
		if code, _, _ := runCmd(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
