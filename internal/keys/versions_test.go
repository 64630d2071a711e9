package keys_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/lifecycle"
	"github.com/portcullis/portcullis/internal/testenv"
)

// An instance not yet restarted with a master key version the data is now
// under (a forced rekey, or a version added elsewhere) says so: reads fail
// with MissingVersionError, an uncached key is a technical error (503)
// naming the version, /readyz is not ready, and nothing claims the store
// is unreachable.
func TestMissingMasterKeyVersionIsReportedAsSuch(t *testing.T) {
	clock := testenv.NewClock(t0)
	st := keystest.SQLite(t)
	sec := keystest.NewSecrets(t)
	var logs testenv.SyncBuffer
	lagging := keystest.Service(t, st, sec, keys.Options{Clock: clock, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	both, _ := keys.NewSecrets([]byte(sec.Pepper), "v2:"+key32()+","+sec.MasterKey)
	updated := keystest.Service(t, st, &keystest.Secrets{Secrets: both}, keys.Options{Clock: clock})
	c, err := updated.CreateConsumer(bg, keys.ConsumerSpec{Name: "acme", Contact: "ops@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := updated.IssueKey(bg, keys.KeySpec{ConsumerID: c.ID, AllowedCIDRs: []string{"203.0.113.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := lagging.Ready(); err != nil {
		t.Fatalf("Ready before anything is under v2: %v", err)
	}
	if _, err := updated.Rekey(bg, true); err != nil {
		t.Fatal(err)
	}

	if _, err := lagging.GetConsumer(bg, c.ID); !keys.IsMissingVersion(err) {
		t.Fatalf("GetConsumer on the lagging instance = %v, want a missing master key version", err)
	}
	_, err = lagging.Verify(bg, k.Secret, netip.MustParseAddr("203.0.113.9"))
	var rej *keys.Rejection
	if err == nil || errors.As(err, &rej) || !keys.IsMissingVersion(err) ||
		!strings.Contains(err.Error(), "sealed with master key v2, which this instance does not hold: add v2 to keys.master_key and restart it") {
		t.Fatalf("Verify of an uncached key on the lagging instance = %v", err)
	}
	err = lagging.Ready()
	if err == nil || lifecycle.IsDegraded(err) || err.Error() != "data in the key store needs keys.master_key v2, which this instance does not hold: add it and restart" {
		t.Fatalf("Ready on the lagging instance = %v, want not ready naming the version", err)
	}
	if strings.Contains(logs.String(), "unreachable") {
		t.Fatalf("the log calls a missing version an unreachable store:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "secret=keys.master_key version=2") {
		t.Fatalf("the log does not name the missing version:\n%s", logs.String())
	}
}

// Pepper rotation: a new pepper version is used for new credentials only
// once every live instance holds it; old keys keep verifying under their
// own version and are re-hashed under the new one at their next
// successful use; the audit chain verifies across the change.
func TestPepperRotation(t *testing.T) {
	clock := testenv.NewClock(t0)
	st := keystest.SQLite(t)
	sec := keystest.NewSecrets(t)
	v1 := keystest.Service(t, st, sec, keys.Options{Clock: clock})
	c := keystest.Consumer(t, v1, "acme")
	oldKey := keystest.Key(t, v1, c.ID)
	event := func(s *keys.Service, action string) {
		t.Helper()
		if err := s.Audit(bg, &audit.Event{Actor: "cli:test", Action: action, Outcome: audit.OutcomeSuccess}); err != nil {
			t.Fatal(err)
		}
	}
	event(v1, "before")

	pepper2 := "v2:" + strings.Repeat("q", 40)
	both, err := keys.NewSecrets([]byte(pepper2+",v1:"+sec.Pepper), sec.MasterKey)
	if err != nil {
		t.Fatal(err)
	}
	rotated := keystest.Service(t, st, &keystest.Secrets{Secrets: both}, keys.Options{Clock: clock})
	pepperOf := func(id string) uint32 {
		t.Helper()
		k, err := st.GetKey(bg, id)
		if err != nil {
			t.Fatal(err)
		}
		return k.PepperVersion
	}
	// The v1-only instance is alive: keys issued by the rotated one stay
	// under v1, which both verify.
	during := keystest.Key(t, rotated, c.ID)
	if v := pepperOf(during.Key.ID); v != 1 {
		t.Fatalf("key issued while an instance lacks pepper v2 is under v%d", v)
	}
	if r := reason(t, v1, during.Secret, clientIP); r != "" {
		t.Fatalf("the v1 instance rejects a key issued meanwhile: %q", r)
	}

	_ = v1.Close()
	if err := rotated.LoadVersions(bg); err != nil {
		t.Fatal(err)
	}
	newKey := keystest.Key(t, rotated, c.ID)
	event(rotated, "after")
	if v := pepperOf(newKey.Key.ID); v != 2 {
		t.Fatalf("key issued once every instance holds v2 is under v%d", v)
	}
	// The old key verifies under v1, then is re-hashed under v2.
	if r := reason(t, rotated, oldKey.Secret, clientIP); r != "" {
		t.Fatalf("old key on the rotated instance: %q", r)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pepperOf(oldKey.Key.ID) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the old key was not re-hashed under pepper v2")
		}
		time.Sleep(10 * time.Millisecond) // the re-hash runs in the background
	}
	// A wrong secret is never re-hashed (nor accepted).
	if r := reason(t, rotated, oldKey.Secret[:len(oldKey.Secret)-7]+"AAAAAAA", clientIP); r == "" {
		t.Fatal("a wrong secret verified")
	}

	// An instance with pepper v2 alone verifies old and new keys now; the
	// key issued while v1 was alive is still under v1 until its next use.
	only2, _ := keys.NewSecrets([]byte(pepper2), sec.MasterKey)
	next := keystest.Service(t, st, &keystest.Secrets{Secrets: only2}, keys.Options{Clock: clock})
	for _, k := range []*keys.Issued{oldKey, newKey} {
		if r := reason(t, next, k.Secret, clientIP); r != "" {
			t.Fatalf("key %s on a v2-only instance: %q", k.Key.ID, r)
		}
	}
	if _, err := next.Verify(bg, during.Secret, clientIP); !keys.IsMissingVersion(err) {
		t.Fatalf("a key never used since the rotation, on a v2-only instance = %v, want a missing pepper version", err)
	}

	// The audit chain: events under v1 and v2 verify with both peppers,
	// and with v2 alone the missing key is named.
	if n, err := rotated.VerifyAudit(bg); err != nil || n != 2 {
		t.Fatalf("VerifyAudit with both peppers = %d, %v", n, err)
	}
	if _, err := next.VerifyAudit(bg); err == nil || !strings.Contains(err.Error(), "key version 1, which is not held") {
		t.Fatalf("VerifyAudit with pepper v2 alone = %v", err)
	}
}

// Admin tokens follow the same pepper rotation.
func TestAdminTokenRehash(t *testing.T) {
	clock := testenv.NewClock(t0)
	st := keystest.SQLite(t)
	sec := keystest.NewSecrets(t)
	v1 := keystest.Service(t, st, sec, keys.Options{Clock: clock})
	tok, err := v1.Bootstrap(bg, "root")
	if err != nil {
		t.Fatal(err)
	}
	_ = v1.Close()
	both, _ := keys.NewSecrets([]byte("v2:"+strings.Repeat("r", 40)+",v1:"+sec.Pepper), sec.MasterKey)
	rotated := keystest.Service(t, st, &keystest.Secrets{Secrets: both}, keys.Options{Clock: clock})
	if _, err := rotated.VerifyAdminToken(bg, tok.Secret); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := st.GetAdminToken(bg, tok.Token.ID)
		if err == nil && got.PepperVersion == 2 && !bytes.Equal(got.Hash, nil) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin token not re-hashed: %+v %v", got, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := rotated.VerifyAdminToken(bg, tok.Secret); err != nil {
		t.Fatalf("after the re-hash: %v", err)
	}
}
