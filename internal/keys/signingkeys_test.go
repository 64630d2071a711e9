package keys_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"encoding/json"
	"errors"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/httpsig"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/store"
)

func jwkOf(t *testing.T, k any, kid string) json.RawMessage {
	t.Helper()
	b, err := jose.JSONWebKey{Key: k, KeyID: kid}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ed25519Pub(t *testing.T) ed25519.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func TestSigningKeyInput(t *testing.T) {
	f := newFixture(t, keys.Options{})
	c := keystest.Consumer(t, f.svc, "acme")
	edPriv := ed25519.NewKeyFromSeed(make([]byte, 32))
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	cases := []struct {
		name  string
		spec  keys.SigningKeySpec
		field string // "" for success
		alg   string
	}{
		{"ed25519 with kid in the JWK", keys.SigningKeySpec{PublicKey: jwkOf(t, ed25519Pub(t), "ed-1")}, "", "ed25519"},
		{"p-256 with key_id", keys.SigningKeySpec{KeyID: "ec-1", PublicKey: jwkOf(t, &p256.PublicKey, "")}, "", "ecdsa-p256-sha256"},
		{"private key refused", keys.SigningKeySpec{PublicKey: jwkOf(t, edPriv, "priv")}, "public_key", ""},
		{"p-384 refused", keys.SigningKeySpec{PublicKey: jwkOf(t, &p384.PublicKey, "p384")}, "public_key", ""},
		{"short rsa refused", keys.SigningKeySpec{PublicKey: jwkOf(t, &rsa1024.PublicKey, "rsa")}, "public_key", ""},
		{"not a JWK", keys.SigningKeySpec{PublicKey: json.RawMessage(`{"kty":"oct","k":"c2VjcmV0"}`), KeyID: "x"}, "public_key", ""},
		{"no key id", keys.SigningKeySpec{PublicKey: jwkOf(t, ed25519Pub(t), "")}, "key_id", ""},
		{"kid and key_id differ", keys.SigningKeySpec{KeyID: "a", PublicKey: jwkOf(t, ed25519Pub(t), "b")}, "key_id", ""},
		{"key id with a quote", keys.SigningKeySpec{KeyID: `a"b`, PublicKey: jwkOf(t, ed25519Pub(t), "")}, "key_id", ""},
		{"expiry in the past", keys.SigningKeySpec{KeyID: "old", PublicKey: jwkOf(t, ed25519Pub(t), ""), ExpiresAt: t0.Add(-time.Hour)}, "expires_at", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.ConsumerID = c.ID
			k, err := f.svc.AddSigningKey(bg, tc.spec)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				if k.Alg != tc.alg || k.State != keys.StateActive || k.Thumbprint == "" || k.ConsumerID != c.ID {
					t.Fatalf("added key = %+v", k)
				}
				var jwk jose.JSONWebKey
				if err := jwk.UnmarshalJSON(k.PublicKey); err != nil || !jwk.IsPublic() || jwk.KeyID != k.KeyID {
					t.Fatalf("stored JWK %s: %v", k.PublicKey, err)
				}
				return
			}
			var inv *keys.InvalidError
			if !errors.As(err, &inv) || len(inv.Fields) == 0 || inv.Fields[0].Field != tc.field {
				t.Fatalf("err = %v, want a problem with %s", err, tc.field)
			}
		})
	}
	if _, err := f.svc.AddSigningKey(bg, keys.SigningKeySpec{ConsumerID: c.ID, PublicKey: jwkOf(t, ed25519Pub(t), "ed-1")}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a keyid registered twice: %v", err)
	}
}

// A keyid resolves among the signer's own consumer's keys only: directly
// for key-store consumers, through the identity mapping for token callers.
func TestSigningKeyResolution(t *testing.T) {
	f := newFixture(t, keys.Options{})
	acme := keystest.Consumer(t, f.svc, "acme")
	other := keystest.Consumer(t, f.svc, "other")
	acmePub, otherPub := ed25519Pub(t), ed25519Pub(t)
	add := func(consumer, kid string, pub any) *keys.SigningKey {
		t.Helper()
		k, err := f.svc.AddSigningKey(bg, keys.SigningKeySpec{ConsumerID: consumer, KeyID: kid, PublicKey: jwkOf(t, pub, "")})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	add(acme.ID, "shared-name", acmePub)
	add(other.ID, "shared-name", otherPub)
	add(other.ID, "other-only", otherPub)
	if _, err := f.svc.CreateIdentity(bg, keys.IdentitySpec{ConsumerID: acme.ID, Issuer: "https://idp.example.com", ClientID: "acme-app"}); err != nil {
		t.Fatal(err)
	}
	direct := keys.Signer{ConsumerID: acme.ID, Direct: true}
	viaToken := keys.Signer{ConsumerID: "acme-app", Issuer: "https://idp.example.com"}
	cases := []struct {
		name string
		who  keys.Signer
		kid  string
		want ed25519.PublicKey // nil: ErrNoSigningKey
	}{
		{"direct", direct, "shared-name", acmePub},
		{"token caller through its mapping", viaToken, "shared-name", acmePub},
		{"keyid of another consumer", direct, "other-only", nil},
		{"keyid of another consumer through a mapping", viaToken, "other-only", nil},
		{"same client id, another issuer", keys.Signer{ConsumerID: "acme-app", Issuer: "https://evil.example.com"}, "shared-name", nil},
		{"unmapped token caller", keys.Signer{ConsumerID: "nobody", Issuer: "https://idp.example.com"}, "shared-name", nil},
		{"token caller claiming a consumer id", keys.Signer{ConsumerID: acme.ID, Issuer: "https://idp.example.com"}, "shared-name", nil},
		{"empty keyid", direct, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := f.svc.SigningKey(bg, tc.who, tc.kid)
			if tc.want == nil {
				if !errors.Is(err, keys.ErrNoSigningKey) {
					t.Fatalf("err = %v, want ErrNoSigningKey", err)
				}
				return
			}
			if err != nil || k.Alg != httpsig.AlgEd25519 || !tc.want.Equal(k.Public) {
				t.Fatalf("key = %+v, %v", k, err)
			}
		})
	}
}

// Revocation, rotation with grace, expiry, a disabled consumer and a
// removed mapping stop a key at once (the change feed drops the cache).
func TestSigningKeyLifecycle(t *testing.T) {
	f := newFixture(t, keys.Options{})
	c := keystest.Consumer(t, f.svc, "acme")
	who := keys.Signer{ConsumerID: c.ID, Direct: true}
	resolves := func(kid string) bool {
		t.Helper()
		_, err := f.svc.SigningKey(bg, who, kid)
		if err != nil && !errors.Is(err, keys.ErrNoSigningKey) {
			t.Fatal(err)
		}
		return err == nil
	}
	k1, err := f.svc.AddSigningKey(bg, keys.SigningKeySpec{ConsumerID: c.ID, KeyID: "k1", PublicKey: jwkOf(t, ed25519Pub(t), ""),
		ExpiresAt: t0.Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if !resolves("k1") {
		t.Fatal("k1 does not resolve")
	}
	grace := time.Hour
	next, prev, err := f.svc.RotateSigningKey(bg, k1.ID, keys.SigningRotateSpec{KeyID: "k2", PublicKey: jwkOf(t, ed25519Pub(t), ""), Grace: &grace})
	if err != nil {
		t.Fatal(err)
	}
	if prev.State != keys.StateRotating || next.PredecessorID != k1.ID || !resolves("k1") || !resolves("k2") {
		t.Fatalf("after rotation: prev %+v next %+v", prev, next)
	}
	f.clock.Advance(grace + time.Second)
	if resolves("k1") || !resolves("k2") {
		t.Fatal("the old key still verifies after its grace period")
	}
	if _, err := f.svc.RevokeSigningKey(bg, next.ID); err != nil {
		t.Fatal(err)
	}
	if resolves("k2") {
		t.Fatal("a revoked key still verifies")
	}
	k3, _ := f.svc.AddSigningKey(bg, keys.SigningKeySpec{ConsumerID: c.ID, KeyID: "k3", PublicKey: jwkOf(t, ed25519Pub(t), ""), ExpiresAt: t0.Add(2 * time.Hour)})
	if !resolves("k3") {
		t.Fatal("k3 does not resolve")
	}
	f.clock.Advance(2 * time.Hour)
	if resolves("k3") {
		t.Fatalf("an expired key still verifies: %+v", k3)
	}
	k4, _ := f.svc.AddSigningKey(bg, keys.SigningKeySpec{ConsumerID: c.ID, KeyID: "k4", PublicKey: jwkOf(t, ed25519Pub(t), "")})
	disabled := true
	if _, err := f.svc.UpdateConsumer(bg, c.ID, keys.ConsumerPatch{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	if resolves("k4") {
		t.Fatalf("a disabled consumer's key still verifies: %+v", k4)
	}
	enabled := false
	if _, err := f.svc.UpdateConsumer(bg, c.ID, keys.ConsumerPatch{Disabled: &enabled}); err != nil {
		t.Fatal(err)
	}
	id, err := f.svc.CreateIdentity(bg, keys.IdentitySpec{ConsumerID: c.ID, Issuer: "https://idp.example.com", ClientID: "app"})
	if err != nil {
		t.Fatal(err)
	}
	viaToken := keys.Signer{ConsumerID: "app", Issuer: "https://idp.example.com"}
	if _, err := f.svc.SigningKey(bg, viaToken, "k4"); err != nil {
		t.Fatalf("through the mapping: %v", err)
	}
	if err := f.svc.DeleteIdentity(bg, id.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SigningKey(bg, viaToken, "k4"); !errors.Is(err, keys.ErrNoSigningKey) {
		t.Fatalf("a removed mapping still resolves: %v", err)
	}
}

// A signing key row edited in the database (its public key swapped for
// another consumer's, or moved to another consumer) verifies nothing: the
// sealed copy no longer matches.
func TestSigningKeyTamperedRow(t *testing.T) {
	f := newFixture(t, keys.Options{CacheTTL: time.Nanosecond})
	a := keystest.Consumer(t, f.svc, "a")
	b := keystest.Consumer(t, f.svc, "b")
	ka, _ := f.svc.AddSigningKey(bg, keys.SigningKeySpec{ConsumerID: a.ID, KeyID: "ka", PublicKey: jwkOf(t, ed25519Pub(t), "")})
	kb, _ := f.svc.AddSigningKey(bg, keys.SigningKeySpec{ConsumerID: b.ID, KeyID: "kb", PublicKey: jwkOf(t, ed25519Pub(t), "")})
	db := f.st.(interface{ DB() *sql.DB }).DB()
	// b's sealed key copied onto a's row: it was sealed for another row.
	if _, err := db.Exec(`UPDATE signing_keys SET sealed = (SELECT sealed FROM signing_keys WHERE id = ?) WHERE id = ?`, kb.ID, ka.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SigningKey(bg, keys.Signer{ConsumerID: a.ID, Direct: true}, "ka"); !errors.Is(err, keys.ErrNoSigningKey) {
		t.Fatalf("a swapped key verifies: %v", err)
	}
	// b's row moved to consumer a with a's keyid name: the sealed copy
	// names consumer b.
	if _, err := db.Exec(`UPDATE signing_keys SET consumer_id = ?, key_id = 'moved' WHERE id = ?`, a.ID, kb.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SigningKey(bg, keys.Signer{ConsumerID: a.ID, Direct: true}, "moved"); !errors.Is(err, keys.ErrNoSigningKey) {
		t.Fatalf("a moved key verifies: %v", err)
	}
}

// With the store down, a cached key keeps verifying for stale_if_error; an
// uncached one is ErrSigningKeysUnavailable (a 503, never a 401).
func TestSigningKeyStoreDown(t *testing.T) {
	f := newFixture(t, keys.Options{CacheTTL: time.Minute, StaleIfError: time.Hour})
	c := keystest.Consumer(t, f.svc, "acme")
	who := keys.Signer{ConsumerID: c.ID, Direct: true}
	if _, err := f.svc.AddSigningKey(bg, keys.SigningKeySpec{ConsumerID: c.ID, KeyID: "k1", PublicKey: jwkOf(t, ed25519Pub(t), "")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SigningKey(bg, who, "k1"); err != nil {
		t.Fatal(err)
	}
	f.st.Close()
	f.clock.Advance(2 * time.Minute)
	if _, err := f.svc.SigningKey(bg, who, "k1"); err != nil {
		t.Fatalf("cached key with the store down: %v", err)
	}
	if _, err := f.svc.SigningKey(bg, who, "k2"); !errors.Is(err, keys.ErrSigningKeysUnavailable) {
		t.Fatalf("uncached key with the store down: %v", err)
	}
}

// Every change of a signing key or mapping commits with its audit event,
// and the rekey re-encrypts signing keys with the rest.
func TestSigningKeyAuditAndRekey(t *testing.T) {
	f := newFixture(t, keys.Options{})
	c := keystest.Consumer(t, f.svc, "acme")
	ev := func(action string) *audit.Event {
		return &audit.Event{Actor: "test", Role: "admin", Action: action, Outcome: audit.OutcomeSuccess, Status: 200}
	}
	add := ev("signing_key.add")
	k, err := f.svc.AddSigningKey(keys.WithAuditEvent(bg, add), keys.SigningKeySpec{ConsumerID: c.ID, KeyID: "k1", PublicKey: jwkOf(t, ed25519Pub(t), "")})
	if err != nil || add.Seq == 0 || add.Target != "signing_key:"+k.ID {
		t.Fatalf("add: %v, event %+v", err, add)
	}
	rot := ev("signing_key.rotate")
	if _, _, err := f.svc.RotateSigningKey(keys.WithAuditEvent(bg, rot), k.ID, keys.SigningRotateSpec{KeyID: "k2", PublicKey: jwkOf(t, ed25519Pub(t), "")}); err != nil || rot.Seq == 0 {
		t.Fatalf("rotate: %v, event %+v", err, rot)
	}
	idEv := ev("identity.create")
	if _, err := f.svc.CreateIdentity(keys.WithAuditEvent(bg, idEv), keys.IdentitySpec{ConsumerID: c.ID, ClientID: "app"}); err != nil || idEv.Seq == 0 {
		t.Fatalf("identity: %v, event %+v", err, idEv)
	}
	if n, err := f.svc.VerifyAudit(bg); err != nil || n != 3 {
		t.Fatalf("audit chain: %d, %v", n, err)
	}
	res, err := f.svc.Rekey(bg, false)
	if err != nil || res.Examined != 3 { // the consumer and two signing keys
		t.Fatalf("rekey = %+v, %v", res, err)
	}
	if _, err := f.svc.SigningKey(bg, keys.Signer{ConsumerID: c.ID, Direct: true}, "k2"); err != nil {
		t.Fatalf("after rekey: %v", err)
	}
}
