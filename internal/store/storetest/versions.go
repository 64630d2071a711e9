package storetest

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/store"
)

func instance(id string, beat time.Time, ttl time.Duration, mk, pp []uint32) *store.Instance {
	return &store.Instance{ID: id, Host: "host-" + id, MasterKeyVersions: mk, PepperVersions: pp,
		StartedAt: t0, HeartbeatAt: beat, ExpiresAt: beat.Add(ttl)}
}

// The instance registry: a heartbeat inserts or refreshes a row, rows
// live until their expiry, a later heartbeat (of anyone) removes dead
// rows, and a stopping instance removes its own.
func testInstances(t *testing.T, h Harness) {
	s := h.Open(t)
	if list, err := s.ListInstances(ctx(), t0); err != nil || len(list) != 0 {
		t.Fatalf("ListInstances on empty = %v, %v", list, err)
	}
	a := instance("inst-a", t0, 30*time.Second, []uint32{1, 2}, []uint32{1})
	b := instance("inst-b", t0, 30*time.Second, []uint32{1}, []uint32{1, 2})
	for _, in := range []*store.Instance{a, b} {
		if err := s.Heartbeat(ctx(), in); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListInstances(ctx(), t0.Add(time.Second))
	if err != nil || len(list) != 2 {
		t.Fatalf("ListInstances = %v, %v", list, err)
	}
	if !reflect.DeepEqual(list[0], a) || !reflect.DeepEqual(list[1], b) {
		t.Fatalf("ListInstances = %+v %+v, want %+v %+v", list[0], list[1], a, b)
	}
	// a keeps beating with new versions; b goes silent and expires.
	a = instance("inst-a", t0.Add(20*time.Second), 30*time.Second, []uint32{2, 3}, []uint32{2})
	if err := s.Heartbeat(ctx(), a); err != nil {
		t.Fatal(err)
	}
	list, _ = s.ListInstances(ctx(), t0.Add(31*time.Second))
	if len(list) != 1 || !reflect.DeepEqual(list[0], a) {
		t.Fatalf("after b expired: %+v", list)
	}
	// The dead row is deleted by the next heartbeat after its expiry.
	if err := s.Heartbeat(ctx(), instance("inst-a", t0.Add(40*time.Second), 30*time.Second, []uint32{2, 3}, []uint32{2})); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListInstances(ctx(), time.Time{}); len(list) != 1 || list[0].ID != "inst-a" {
		t.Fatalf("rows after the dead one was swept: %+v", list)
	}
	if err := s.RemoveInstance(ctx(), "inst-a"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.ListInstances(ctx(), time.Time{}); len(list) != 0 {
		t.Fatalf("after RemoveInstance: %+v", list)
	}
}

// Instances on two connections (two gateways) see each other.
func testInstancesAcrossStores(t *testing.T, h Harness) {
	s1 := h.Open(t)
	s2 := h.Reopen(t, s1)
	if err := s1.Heartbeat(ctx(), instance("inst-1", t0, time.Minute, []uint32{1}, []uint32{1})); err != nil {
		t.Fatal(err)
	}
	if err := s2.Heartbeat(ctx(), instance("inst-2", t0, time.Minute, []uint32{1, 2}, []uint32{1})); err != nil {
		t.Fatal(err)
	}
	for _, s := range []store.Store{s1, s2} {
		list, err := s.ListInstances(ctx(), t0)
		if err != nil || len(list) != 2 || list[0].ID != "inst-1" || list[1].ID != "inst-2" {
			t.Fatalf("ListInstances = %+v, %v", list, err)
		}
	}
}

// A credential's pepper version is stored and read back; one written
// without a version (as before versions existed) reads as version 1.
func testPepperVersions(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consP", "p")
	k := newKey("keyPV0000001", "consP")
	k.PepperVersion = 3
	if err := s.CreateKey(ctx(), k, nil); err != nil {
		t.Fatal(err)
	}
	mustKey(t, s, "keyPV0000002", "consP") // no version
	for id, want := range map[string]uint32{"keyPV0000001": 3, "keyPV0000002": 1} {
		got, err := s.GetKey(ctx(), id)
		if err != nil || got.PepperVersion != want {
			t.Fatalf("GetKey(%s) pepper version = %+v, %v; want %d", id, got, err, want)
		}
		vk, _, err := s.GetKeyForVerify(ctx(), id)
		if err != nil || vk.PepperVersion != want {
			t.Fatalf("GetKeyForVerify(%s) pepper version = %+v, %v; want %d", id, vk, err, want)
		}
	}
	tok := &store.AdminToken{ID: "tokPV0000001", Name: "v", Role: "admin", Hash: []byte("h"), CreatedBy: "x", CreatedAt: t0, PepperVersion: 2}
	if err := s.CreateAdminToken(ctx(), tok, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetAdminToken(ctx(), tok.ID); err != nil || got.PepperVersion != 2 {
		t.Fatalf("GetAdminToken pepper version = %+v, %v", got, err)
	}
}

// A lazy re-hash replaces the hash only if it is still the one read (two
// instances re-hashing at once: one wins), and tells every instance's
// cache through the change feed.
func testRehashKey(t *testing.T, h Harness) {
	s := h.Open(t)
	mustConsumer(t, s, "consR", "r")
	k := mustKey(t, s, "keyRH0000001", "consR")
	ch := watch(t, s)
	ok, err := s.RehashKey(ctx(), k.ID, k.Hash, []byte("new-hash"), 2)
	if err != nil || !ok {
		t.Fatalf("RehashKey = %v, %v", ok, err)
	}
	expectChanges(t, ch, store.Change{Kind: store.KeyChanged, ID: k.ID})
	got, _ := s.GetKey(ctx(), k.ID)
	if !bytes.Equal(got.Hash, []byte("new-hash")) || got.PepperVersion != 2 {
		t.Fatalf("after RehashKey: hash %q version %d", got.Hash, got.PepperVersion)
	}
	if ok, err := s.RehashKey(ctx(), k.ID, k.Hash, []byte("other"), 3); err != nil || ok {
		t.Fatalf("second RehashKey from the old hash = %v, %v; want false", ok, err)
	}
	if ok, err := s.RehashKey(ctx(), "missing", k.Hash, []byte("x"), 2); err != nil || ok {
		t.Fatalf("RehashKey(missing) = %v, %v", ok, err)
	}
}

func testRehashAdminToken(t *testing.T, h Harness) {
	s := h.Open(t)
	tok := &store.AdminToken{ID: "tokRH0000001", Name: "r", Role: "admin", Hash: []byte("old"), CreatedBy: "x", CreatedAt: t0}
	if err := s.CreateAdminToken(ctx(), tok, nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.RehashAdminToken(ctx(), tok.ID, []byte("old"), []byte("new"), 2); err != nil || !ok {
		t.Fatalf("RehashAdminToken = %v, %v", ok, err)
	}
	if ok, err := s.RehashAdminToken(ctx(), tok.ID, []byte("old"), []byte("newer"), 3); err != nil || ok {
		t.Fatalf("second RehashAdminToken = %v, %v; want false", ok, err)
	}
	got, _ := s.GetAdminToken(ctx(), tok.ID)
	if !bytes.Equal(got.Hash, []byte("new")) || got.PepperVersion != 2 {
		t.Fatalf("after RehashAdminToken: %+v", got)
	}
}

// Events record the version of the chain key they were linked with, and
// the chain verifies across a key change only with both keys.
func testAuditChainVersions(t *testing.T, h Harness) {
	s := h.Open(t)
	v1 := chainer(t)
	v2, err := audit.NewChainerVersion(bytes.Repeat([]byte{9}, 32), 2)
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, s, v1, 2)
	appendEvents(t, s, v2, 2)
	evs, err := s.ListAudit(ctx(), 0, 10)
	if err != nil || len(evs) != 4 || evs[0].ChainVersion != 1 || evs[2].ChainVersion != 2 {
		t.Fatalf("ListAudit = %+v, %v", evs, err)
	}
	both := func(v uint32) *audit.Chainer { return map[uint32]*audit.Chainer{1: v1, 2: v2}[v] }
	if n, err := audit.VerifyChain(ctx(), s, both); err != nil || n != 4 {
		t.Fatalf("VerifyChain with both keys = %d, %v", n, err)
	}
	if n, err := audit.VerifyChain(ctx(), s, func(v uint32) *audit.Chainer {
		if v == 1 {
			return v1
		}
		return nil
	}); err == nil || n != 2 || errors.Is(err, audit.ErrTampered) {
		t.Fatalf("VerifyChain without key v2 = %d, %v; want 2 and a missing key", n, err)
	}
}
