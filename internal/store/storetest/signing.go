package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/store"
)

// Signing keys and identity mappings: the consumer-owned records that
// message-signature verification reads.

func newSigningKey(id, consumer, keyID string) *store.SigningKey {
	return &store.SigningKey{ID: id, ConsumerID: consumer, KeyID: keyID, Alg: "ed25519",
		Sealed: []byte("sealed-" + id), State: store.StateActive, CreatedAt: t0}
}

func mustSigningKey(t *testing.T, s store.Store, id, consumer, keyID string) *store.SigningKey {
	t.Helper()
	k := newSigningKey(id, consumer, keyID)
	if err := s.CreateSigningKey(ctx(), k, nil); err != nil {
		t.Fatalf("CreateSigningKey(%s): %v", id, err)
	}
	return k
}

func testSigningKeys(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consA", "a")
	mustConsumer(t, s, "consB", "b")
	want := mustSigningKey(t, s, "sk0000000001", "consA", "client-2026")
	want.ExpiresAt = t0.Add(24 * time.Hour)
	if err := s.CreateSigningKey(ctx(), &store.SigningKey{ID: "sk0000000002", ConsumerID: "consA", KeyID: "exp",
		Alg: "rsa-pss-sha512", Sealed: []byte("x"), State: store.StateActive, ExpiresAt: want.ExpiresAt, CreatedAt: t0}, nil); err != nil {
		t.Fatal(err)
	}
	// Another consumer may use the same keyid: key ids are per consumer.
	mustSigningKey(t, s, "sk0000000003", "consB", "client-2026")

	cases := []struct {
		name string
		k    *store.SigningKey
		want error
	}{
		{"keyid taken within the consumer", newSigningKey("sk0000000009", "consA", "client-2026"), store.ErrConflict},
		{"id taken", newSigningKey("sk0000000001", "consB", "other"), store.ErrConflict},
		{"unknown consumer", newSigningKey("sk0000000010", "nobody", "k"), store.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.CreateSigningKey(ctx(), tc.k, nil); !errors.Is(err, tc.want) {
				t.Fatalf("CreateSigningKey = %v, want %v", err, tc.want)
			}
		})
	}

	got, err := s.GetSigningKey(ctx(), "sk0000000001")
	if err != nil || got.KeyID != "client-2026" || string(got.Sealed) != "sealed-sk0000000001" || !got.CreatedAt.Equal(t0) || got.State != store.StateActive {
		t.Fatalf("GetSigningKey = %+v, %v", got, err)
	}
	if _, err := s.GetSigningKey(ctx(), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSigningKey(missing) = %v", err)
	}
	k, c, err := s.FindSigningKey(ctx(), "consB", "client-2026")
	if err != nil || k.ID != "sk0000000003" || c == nil || c.ID != "consB" || c.Name != "b" {
		t.Fatalf("FindSigningKey(consB) = %+v, %+v, %v", k, c, err)
	}
	if _, _, err := s.FindSigningKey(ctx(), "consB", "exp"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a keyid of consumer A found under consumer B: %v", err)
	}
	exp, _, err := s.FindSigningKey(ctx(), "consA", "exp")
	if err != nil || !exp.ExpiresAt.Equal(want.ExpiresAt) || exp.Alg != "rsa-pss-sha512" {
		t.Fatalf("FindSigningKey(exp) = %+v, %v", exp, err)
	}

	list, err := s.ListSigningKeys(ctx(), "consA", store.Page{Limit: 1})
	if err != nil || len(list) != 1 || list[0].ID != "sk0000000001" {
		t.Fatalf("ListSigningKeys page 1 = %+v, %v", list, err)
	}
	list, err = s.ListSigningKeys(ctx(), "consA", store.Page{After: list[0].ID, Limit: 10})
	if err != nil || len(list) != 1 || list[0].ID != "sk0000000002" {
		t.Fatalf("ListSigningKeys page 2 = %+v, %v", list, err)
	}
	all, err := s.ListSigningKeys(ctx(), "", store.Page{Limit: 10})
	if err != nil || len(all) != 3 {
		t.Fatalf("ListSigningKeys(all) = %d, %v", len(all), err)
	}

	// Deleting a consumer revokes its signing keys; lookups then show the
	// key without its consumer.
	if err := s.DeleteConsumer(ctx(), "consB", t0.Add(time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	k, c, err = s.FindSigningKey(ctx(), "consB", "client-2026")
	if err != nil || k.State != store.StateRevoked || !k.RevokedAt.Equal(t0.Add(time.Hour)) || c != nil {
		t.Fatalf("after DeleteConsumer: %+v, consumer %+v, %v", k, c, err)
	}
}

func testSigningKeyRotateRevoke(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consA", "a")
	mustConsumer(t, s, "consB", "b")
	mustSigningKey(t, s, "sk0000000001", "consA", "k1")
	grace := t0.Add(time.Hour)
	if err := s.RotateSigningKey(ctx(), "sk0000000001", grace, newSigningKey("sk0000000002", "consA", "k2"), nil); err != nil {
		t.Fatal(err)
	}
	old, _ := s.GetSigningKey(ctx(), "sk0000000001")
	succ, _ := s.GetSigningKey(ctx(), "sk0000000002")
	if old.State != store.StateRotating || !old.GraceUntil.Equal(grace) || old.SuccessorID != "sk0000000002" || succ.PredecessorID != "sk0000000001" {
		t.Fatalf("after rotate: old %+v, successor %+v", old, succ)
	}
	cases := []struct {
		name      string
		old       string
		successor *store.SigningKey
		want      error
	}{
		{"not active", "sk0000000001", newSigningKey("sk0000000003", "consA", "k3"), store.ErrConflict},
		{"keyid taken", "sk0000000002", newSigningKey("sk0000000004", "consA", "k1"), store.ErrConflict},
		{"missing", "sk0000000099", newSigningKey("sk0000000005", "consA", "k5"), store.ErrNotFound},
		// A successor must belong to the key's consumer: the key is not
		// found under another consumer.
		{"another consumer", "sk0000000002", newSigningKey("sk0000000006", "consB", "k6"), store.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.RotateSigningKey(ctx(), tc.old, grace, tc.successor, nil); !errors.Is(err, tc.want) {
				t.Fatalf("RotateSigningKey = %v, want %v", err, tc.want)
			}
			if _, err := s.GetSigningKey(ctx(), tc.successor.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a refused rotation stored its successor: %v", err)
			}
		})
	}
	// The refused rotation "keyid taken" left the active key as it was.
	if k, _ := s.GetSigningKey(ctx(), "sk0000000002"); k.State != store.StateActive || k.SuccessorID != "" {
		t.Fatalf("refused rotation changed the key: %+v", k)
	}
	at := t0.Add(2 * time.Hour)
	if err := s.RevokeSigningKey(ctx(), "sk0000000002", at, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSigningKey(ctx(), "sk0000000002", at.Add(time.Hour), nil); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if k, _ := s.GetSigningKey(ctx(), "sk0000000002"); k.State != store.StateRevoked || !k.RevokedAt.Equal(at) {
		t.Fatalf("after revoke: %+v", k)
	}
	if err := s.RevokeSigningKey(ctx(), "sk0000000099", at, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RevokeSigningKey(missing) = %v", err)
	}
}

func testIdentities(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consA", "a")
	mustConsumer(t, s, "consB", "b")
	mk := func(id, iss, client, consumer string) *store.Identity {
		return &store.Identity{ID: id, Issuer: iss, ClientID: client, ConsumerID: consumer, CreatedAt: t0}
	}
	for _, i := range []*store.Identity{
		mk("id0000000001", "https://idp.example.com", "app-1", "consA"),
		mk("id0000000002", "https://other.example.com", "app-1", "consB"), // same client id, another issuer
		mk("id0000000003", "https://idp.example.com", "app-2", "consA"),
	} {
		if err := s.CreateIdentity(ctx(), i, nil); err != nil {
			t.Fatalf("CreateIdentity(%s): %v", i.ID, err)
		}
	}
	cases := []struct {
		name string
		i    *store.Identity
		want error
	}{
		{"client mapped already", mk("id0000000009", "https://idp.example.com", "app-1", "consB"), store.ErrConflict},
		{"unknown consumer", mk("id0000000010", "https://idp.example.com", "app-9", "nobody"), store.ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.CreateIdentity(ctx(), tc.i, nil); !errors.Is(err, tc.want) {
				t.Fatalf("CreateIdentity = %v, want %v", err, tc.want)
			}
		})
	}
	got, err := s.FindIdentity(ctx(), "https://other.example.com", "app-1")
	if err != nil || got.ConsumerID != "consB" || got.ID != "id0000000002" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("FindIdentity = %+v, %v", got, err)
	}
	if _, err := s.FindIdentity(ctx(), "https://idp.example.com", "app-3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("FindIdentity(unmapped) = %v", err)
	}
	list, err := s.ListIdentities(ctx(), "consA", store.Page{Limit: 10})
	if err != nil || len(list) != 2 || list[0].ID != "id0000000001" || list[1].ID != "id0000000003" {
		t.Fatalf("ListIdentities(consA) = %+v, %v", list, err)
	}
	if err := s.DeleteIdentity(ctx(), "id0000000003", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteIdentity(ctx(), "id0000000003", nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting twice = %v", err)
	}
	if g, err := s.GetIdentity(ctx(), "id0000000001"); err != nil || g.ClientID != "app-1" {
		t.Fatalf("GetIdentity = %+v, %v", g, err)
	}
	// Deleting a consumer removes its mappings.
	if err := s.DeleteConsumer(ctx(), "consA", t0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindIdentity(ctx(), "https://idp.example.com", "app-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted consumer's mapping is still found: %v", err)
	}
	all, err := s.ListIdentities(ctx(), "", store.Page{Limit: 10})
	if err != nil || len(all) != 1 || all[0].ID != "id0000000002" {
		t.Fatalf("ListIdentities(all) = %+v, %v", all, err)
	}
}

func testSigningChangeFeed(t *testing.T, h Harness) {
	s := h.Open(t)
	ch := watch(t, s)
	mustConsumer(t, s, "consA", "a")
	mustSigningKey(t, s, "sk0000000001", "consA", "k1")
	expectChanges(t, ch, store.Change{Kind: store.SigningKeysChanged, ID: "consA"})
	if err := s.RotateSigningKey(ctx(), "sk0000000001", t0, newSigningKey("sk0000000002", "consA", "k2"), nil); err != nil {
		t.Fatal(err)
	}
	expectChanges(t, ch, store.Change{Kind: store.SigningKeysChanged, ID: "consA"})
	if err := s.RevokeSigningKey(ctx(), "sk0000000002", t0, nil); err != nil {
		t.Fatal(err)
	}
	expectChanges(t, ch, store.Change{Kind: store.SigningKeysChanged, ID: "consA"})
	// Revoking a revoked key changes nothing and publishes nothing.
	if err := s.RevokeSigningKey(ctx(), "sk0000000002", t0, nil); err != nil {
		t.Fatal(err)
	}
	id := &store.Identity{ID: "id0000000001", Issuer: "https://idp.example.com", ClientID: "app", ConsumerID: "consA", CreatedAt: t0}
	if err := s.CreateIdentity(ctx(), id, nil); err != nil {
		t.Fatal(err)
	}
	expectChanges(t, ch, store.Change{Kind: store.IdentitiesChanged, ID: "id0000000001"})
	if err := s.DeleteIdentity(ctx(), "id0000000001", nil); err != nil {
		t.Fatal(err)
	}
	expectChanges(t, ch, store.Change{Kind: store.IdentitiesChanged, ID: "id0000000001"})
}

func testSigningSealed(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consA", "a")
	mustSigningKey(t, s, "sk0000000001", "consA", "k1")
	got, err := s.ListSealed(ctx(), "signing_key", "", 10)
	if err != nil || len(got) != 1 || got[0].ID != "sk0000000001" || string(got[0].Data) != "sealed-sk0000000001" {
		t.Fatalf("ListSealed(signing_key) = %+v, %v", got, err)
	}
	ok, err := s.ReplaceSealed(ctx(), "signing_key", "sk0000000001", got[0].Data, []byte("v2"))
	if err != nil || !ok {
		t.Fatalf("ReplaceSealed = %v, %v", ok, err)
	}
	if k, _ := s.GetSigningKey(ctx(), "sk0000000001"); string(k.Sealed) != "v2" {
		t.Fatalf("sealed = %q", k.Sealed)
	}
}

// signingMutations are the audited changes of signing keys and identities.
func signingMutations() []mutation {
	withKey := func(t *testing.T, s store.Store) {
		mustConsumer(t, s, "consA", "a")
		mustSigningKey(t, s, "sk0000000001", "consA", "k1")
		if err := s.CreateIdentity(ctx(), &store.Identity{ID: "id0000000001", Issuer: "https://idp.example.com",
			ClientID: "app", ConsumerID: "consA", CreatedAt: t0}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return []mutation{
		{"CreateSigningKey", withKey, func(s store.Store, a *store.Audit) error {
			return s.CreateSigningKey(ctx(), newSigningKey("sk0000000002", "consA", "k2"), a)
		}, "signing_key.add"},
		{"RotateSigningKey", withKey, func(s store.Store, a *store.Audit) error {
			return s.RotateSigningKey(ctx(), "sk0000000001", t0.Add(time.Hour), newSigningKey("sk0000000002", "consA", "k2"), a)
		}, "signing_key.rotate"},
		{"RevokeSigningKey", withKey, func(s store.Store, a *store.Audit) error {
			return s.RevokeSigningKey(ctx(), "sk0000000001", t0.Add(time.Hour), a)
		}, "signing_key.revoke"},
		{"CreateIdentity", withKey, func(s store.Store, a *store.Audit) error {
			return s.CreateIdentity(ctx(), &store.Identity{ID: "id0000000002", Issuer: "https://idp.example.com",
				ClientID: "app-2", ConsumerID: "consA", CreatedAt: t0}, a)
		}, "identity.create"},
		{"DeleteIdentity", withKey, func(s store.Store, a *store.Audit) error {
			return s.DeleteIdentity(ctx(), "id0000000001", a)
		}, "identity.delete"},
	}
}

// signingSnapshot is the signing keys and identities, as text.
func signingSnapshot(t *testing.T, s store.Store) string {
	t.Helper()
	ks, err := s.ListSigningKeys(ctx(), "", store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	is, err := s.ListIdentities(ctx(), "", store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, k := range ks {
		out += fmt.Sprintf("signing key %+v\n", *k)
	}
	for _, i := range is {
		out += fmt.Sprintf("identity %+v\n", *i)
	}
	return out
}
