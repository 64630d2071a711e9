package keys_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/testenv"
)

var pg = testenv.NewPostgres()

func TestMain(m *testing.M) { testenv.RunStopping(m, pg) }

var (
	bg       = context.Background()
	t0       = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clientIP = netip.MustParseAddr("203.0.113.7")
)

type fixture struct {
	svc   *keys.Service
	clock *testenv.Clock
	st    store.Store
	sec   *keystest.Secrets
}

func newFixture(t *testing.T, o keys.Options) *fixture {
	t.Helper()
	f := &fixture{clock: testenv.NewClock(t0), st: keystest.SQLite(t), sec: keystest.NewSecrets(t)}
	if o.Clock == nil {
		o.Clock = f.clock
	}
	f.svc = keystest.Service(t, f.st, f.sec, o)
	return f
}

// reason verifies text and returns the rejection reason ("" on success).
func reason(t *testing.T, s *keys.Service, text string, ip netip.Addr) string {
	t.Helper()
	v, err := s.Verify(bg, text, ip)
	var rej *keys.Rejection
	switch {
	case err == nil:
		if v == nil {
			t.Fatal("Verify returned nil, nil")
		}
		return ""
	case errors.As(err, &rej):
		return rej.Reason
	}
	t.Fatalf("Verify technical error: %v", err)
	return ""
}

func TestVerifyLifecycle(t *testing.T) {
	f := newFixture(t, keys.Options{})
	c := keystest.Consumer(t, f.svc, "acme")
	exp := t0.Add(48 * time.Hour)
	iss, err := f.svc.IssueKey(bg, keys.KeySpec{ConsumerID: c.ID, Scopes: []string{"accounts:read"}, ExpiresAt: exp, Tier: "platinum"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.Verify(bg, iss.Secret, clientIP)
	if err != nil {
		t.Fatal(err)
	}
	if v.KeyID != iss.Key.ID || v.ConsumerID != c.ID || v.ConsumerName != "acme" || v.Tier != "platinum" ||
		v.Scopes[0] != "accounts:read" || v.Groups[0] != "partners" || !v.ExpiresAt.Equal(exp) {
		t.Fatalf("Verified = %+v", v)
	}
	if iss.Key.State != keys.StateActive || !strings.HasPrefix(iss.Secret, iss.Key.Prefix) {
		t.Fatalf("issued key view = %+v", iss.Key)
	}

	// Rotation: both keys work during the grace period, then only the new.
	grace := 2 * time.Hour
	succ, old, err := f.svc.RotateKey(bg, iss.Key.ID, keys.RotateSpec{Grace: &grace})
	if err != nil {
		t.Fatal(err)
	}
	if old.State != keys.StateRotating || !old.GraceUntil.Equal(t0.Add(grace)) || old.SuccessorID != succ.Key.ID ||
		succ.Key.PredecessorID != old.ID || !succ.Key.ExpiresAt.Equal(exp) || succ.Key.Scopes[0] != "accounts:read" {
		t.Fatalf("after rotation old=%+v new=%+v", old, succ.Key)
	}
	if r := reason(t, f.svc, iss.Secret, clientIP); r != "" {
		t.Fatalf("old key during grace: %s", r)
	}
	if r := reason(t, f.svc, succ.Secret, clientIP); r != "" {
		t.Fatalf("new key: %s", r)
	}
	if _, _, err := f.svc.RotateKey(bg, iss.Key.ID, keys.RotateSpec{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rotating a rotating key: %v", err)
	}
	f.clock.Advance(grace)
	if r := reason(t, f.svc, iss.Secret, clientIP); r != "rotated and past its grace period" {
		t.Fatalf("old key after grace: %q", r)
	}
	if k, _ := f.svc.GetKey(bg, iss.Key.ID); k.State != keys.StateExpired {
		t.Fatalf("old key state after grace = %s", k.State)
	}
	if r := reason(t, f.svc, succ.Secret, clientIP); r != "" {
		t.Fatalf("new key after grace: %s", r)
	}

	// Expiry.
	f.clock.Advance(48 * time.Hour)
	if r := reason(t, f.svc, succ.Secret, clientIP); r != "expired" {
		t.Fatalf("after expiry: %q", r)
	}
}

func TestRevocationIsImmediate(t *testing.T) {
	f := newFixture(t, keys.Options{CacheTTL: time.Hour})
	c := keystest.Consumer(t, f.svc, "acme")
	k := keystest.Key(t, f.svc, c.ID)
	if r := reason(t, f.svc, k.Secret, clientIP); r != "" {
		t.Fatal(r)
	}
	hits := f.svc.Stats().Hits.Load()
	if r := reason(t, f.svc, k.Secret, clientIP); r != "" || f.svc.Stats().Hits.Load() != hits+1 {
		t.Fatalf("second use was not a cache hit (%q)", r)
	}
	if _, err := f.svc.RevokeKey(bg, k.Key.ID); err != nil {
		t.Fatal(err)
	}
	// No clock movement: the cached entry was dropped by the change feed.
	if r := reason(t, f.svc, k.Secret, clientIP); r != "revoked" {
		t.Fatalf("after revoke: %q", r)
	}
}

func TestVerifyRejections(t *testing.T) {
	f := newFixture(t, keys.Options{})
	c := keystest.Consumer(t, f.svc, "acme")
	k := keystest.Key(t, f.svc, c.ID)
	restricted, err := f.svc.IssueKey(bg, keys.KeySpec{ConsumerID: c.ID, AllowedCIDRs: []string{"10.0.0.0/8", "2001:db8::1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := restricted.Key.AllowedCIDRs; len(got) != 2 || got[1] != "2001:db8::1/128" {
		t.Fatalf("allowed CIDRs normalised to %v", got)
	}
	other := keystest.Consumer(t, f.svc, "disabled-co")
	ok := keystest.Key(t, f.svc, other.ID)
	disabled := true
	if _, err := f.svc.UpdateConsumer(bg, other.ID, keys.ConsumerPatch{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	gone := keystest.Consumer(t, f.svc, "gone-co")
	goneKey := keystest.Key(t, f.svc, gone.ID)
	if err := f.svc.DeleteConsumer(bg, gone.ID); err != nil {
		t.Fatal(err)
	}
	unknown, _, _ := keys.Generate(keys.KindLive)
	testKey, _, _ := keys.Generate(keys.KindTest)
	admin, _, _ := keys.Generate(keys.KindAdmin)
	// A key whose id exists but whose secret is different.
	forged, _, _ := keys.Build(keys.KindLive, k.Key.ID)

	tests := []struct {
		name, key string
		ip        netip.Addr
		reason    string
	}{
		{"valid", k.Secret, clientIP, ""},
		{"malformed", "hello", clientIP, "malformed key: unknown prefix"},
		{"typo", typo(k.Secret, len(k.Secret)-1), clientIP, "malformed key: checksum mismatch"},
		{"unknown id", unknown, clientIP, "unknown key id"},
		{"wrong secret", forged, clientIP, "wrong secret"},
		{"test key on live gateway", testKey, clientIP, "key of kind test on a live gateway"},
		{"admin token as api key", admin, clientIP, "key of kind admin on a live gateway"},
		{"allowed source v4", restricted.Secret, netip.MustParseAddr("10.1.2.3"), ""},
		{"allowed source v4-mapped", restricted.Secret, netip.MustParseAddr("::ffff:10.1.2.3"), ""},
		{"allowed source v6", restricted.Secret, netip.MustParseAddr("2001:db8::1"), ""},
		{"source not allowed", restricted.Secret, clientIP, "source address not allowed for this key"},
		{"disabled consumer", ok.Secret, clientIP, "consumer deleted or disabled"},
		{"deleted consumer", goneKey.Secret, clientIP, "consumer deleted or disabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := reason(t, f.svc, tc.key, tc.ip); got != tc.reason {
				t.Fatalf("reason = %q, want %q", got, tc.reason)
			}
		})
	}
	// Re-enabling the consumer brings its keys back at once.
	enabled := false
	if _, err := f.svc.UpdateConsumer(bg, other.ID, keys.ConsumerPatch{Disabled: &enabled}); err != nil {
		t.Fatal(err)
	}
	if r := reason(t, f.svc, ok.Secret, clientIP); r != "" {
		t.Fatalf("after re-enabling: %q", r)
	}
}

func TestRejectionCarriesKeyID(t *testing.T) {
	f := newFixture(t, keys.Options{})
	forged, tok, _ := keys.Build(keys.KindLive, "AAAAAAAAAAAA")
	_, err := f.svc.Verify(bg, forged, clientIP)
	var rej *keys.Rejection
	if !errors.As(err, &rej) || rej.KeyID != tok.ID || strings.Contains(rej.Error(), forged) {
		t.Fatalf("rejection = %+v", rej)
	}
}

func TestNegativeCache(t *testing.T) {
	f := newFixture(t, keys.Options{NegativeTTL: 10 * time.Second})
	unknown, _, _ := keys.Generate(keys.KindLive)
	for i := 0; i < 5; i++ {
		reason(t, f.svc, unknown, clientIP)
	}
	if m := f.svc.Stats().Misses.Load(); m != 1 {
		t.Fatalf("5 tries of one unknown key read the store %d times, want 1", m)
	}
	f.clock.Advance(10 * time.Second)
	reason(t, f.svc, unknown, clientIP)
	if m := f.svc.Stats().Misses.Load(); m != 2 {
		t.Fatalf("after the negative ttl: %d store reads, want 2", m)
	}
}

func TestCacheIsBounded(t *testing.T) {
	f := newFixture(t, keys.Options{CacheSize: 32})
	for i := 0; i < 200; i++ {
		k, _, _ := keys.Generate(keys.KindLive)
		reason(t, f.svc, k, clientIP)
	}
	if n := f.svc.CachedKeys(); n > 32+16 { // per-shard rounding
		t.Fatalf("cache holds %d entries with size 32", n)
	}
}

func TestUsageIsBatched(t *testing.T) {
	f := newFixture(t, keys.Options{UsageFlush: time.Hour})
	c := keystest.Consumer(t, f.svc, "acme")
	k := keystest.Key(t, f.svc, c.ID)
	for i := 0; i < 25; i++ {
		if r := reason(t, f.svc, k.Secret, clientIP); r != "" {
			t.Fatal(r)
		}
		f.clock.Advance(time.Second)
	}
	got, _ := f.svc.GetKey(bg, k.Key.ID)
	if got.RequestCount != 0 || !got.LastUsedAt.IsZero() {
		t.Fatalf("usage written per request: %+v", got)
	}
	if err := f.svc.FlushUsage(bg); err != nil {
		t.Fatal(err)
	}
	got, _ = f.svc.GetKey(bg, k.Key.ID)
	if got.RequestCount != 25 || !got.LastUsedAt.Equal(t0.Add(24*time.Second)) {
		t.Fatalf("after flush: count %d last used %v", got.RequestCount, got.LastUsedAt)
	}
}

func TestSensitiveMetadataIsEncrypted(t *testing.T) {
	f := newFixture(t, keys.Options{})
	c, err := f.svc.CreateConsumer(bg, keys.ConsumerSpec{Name: "acme", Contact: "ops@acme.example", Notes: "vip since 2019"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.svc.IssueKey(bg, keys.KeySpec{ConsumerID: c.ID, AllowedCIDRs: []string{"198.51.100.0/24"}, Notes: "mobile app"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := f.st.GetConsumer(bg, c.ID)
	rawKey, _ := f.st.GetKey(bg, k.Key.ID)
	for _, plain := range []string{"ops@acme.example", "vip since 2019"} {
		if strings.Contains(string(raw.Sealed), plain) {
			t.Fatalf("%q stored in clear", plain)
		}
	}
	for _, plain := range []string{"198.51.100", "mobile app"} {
		if strings.Contains(string(rawKey.Sealed), plain) {
			t.Fatalf("%q stored in clear", plain)
		}
	}
	if string(rawKey.Hash) == k.Secret || strings.Contains(string(rawKey.Hash), k.Secret) || len(rawKey.Hash) != 32 {
		t.Fatal("the key is not stored as a 32-byte HMAC")
	}
	got, _ := f.svc.GetConsumer(bg, c.ID)
	if got.Contact != "ops@acme.example" || got.Notes != "vip since 2019" {
		t.Fatalf("decrypted consumer = %+v", got)
	}
	// A ciphertext moved to another row does not open there.
	c2 := keystest.Consumer(t, f.svc, "other")
	raw2, _ := f.st.GetConsumer(bg, c2.ID)
	if ok, err := f.st.ReplaceSealed(bg, "consumer", c2.ID, raw2.Sealed, raw.Sealed); err != nil || !ok {
		t.Fatal(err)
	}
	if _, err := f.svc.GetConsumer(bg, c2.ID); err == nil {
		t.Fatal("a ciphertext copied from another consumer decrypted")
	}
}

func TestRekey(t *testing.T) {
	clock := testenv.NewClock(t0)
	st := keystest.SQLite(t)
	sec := keystest.NewSecrets(t)
	old := keystest.Service(t, st, sec, keys.Options{Clock: clock})
	c, err := old.CreateConsumer(bg, keys.ConsumerSpec{Name: "acme", Contact: "ops@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	k, err := old.IssueKey(bg, keys.KeySpec{ConsumerID: c.ID, AllowedCIDRs: []string{"203.0.113.0/24"}})
	if err != nil {
		t.Fatal(err)
	}
	v2 := "v2:" + key32()
	both, err := keys.NewSecrets([]byte(sec.Pepper), v2+","+sec.MasterKey)
	if err != nil {
		t.Fatal(err)
	}
	svc := keystest.Service(t, st, &keystest.Secrets{Secrets: both}, keys.Options{Clock: clock})

	// The instance still on v1 is alive: the rekey is refused, naming it,
	// and what the new instance writes meanwhile stays readable by it (v1).
	_, err = svc.Rekey(bg, false)
	var lack *keys.InstancesLackVersionError
	if !errors.As(err, &lack) || lack.Version != 2 || len(lack.Lacking) != 1 || !strings.Contains(err.Error(), "holds v1") {
		t.Fatalf("Rekey while an instance lacks v2 = %v", err)
	}
	c2, err := svc.CreateConsumer(bg, keys.ConsumerSpec{Name: "during", Contact: "c@during.example"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := old.GetConsumer(bg, c2.ID); err != nil || got.Contact != "c@during.example" {
		t.Fatalf("the v1 instance reads what the v1+v2 instance wrote: %+v, %v", got, err)
	}

	// The old instance stops: its row goes, and writes move to v2.
	_ = old.Close()
	if err := svc.LoadVersions(bg); err != nil {
		t.Fatal(err)
	}
	res, err := svc.Rekey(bg, false)
	if err != nil || res.Examined != 3 || res.Rekeyed != 3 || res.Current != 2 || res.Forced {
		t.Fatalf("Rekey = %+v, %v", res, err)
	}
	again, err := svc.Rekey(bg, false)
	if err != nil || again.Rekeyed != 0 {
		t.Fatalf("second Rekey = %+v, %v", again, err)
	}
	onlyV2, _ := keys.NewSecrets([]byte(sec.Pepper), v2)
	fresh := keystest.Service(t, st, &keystest.Secrets{Secrets: onlyV2}, keys.Options{Clock: clock})
	if got, err := fresh.GetConsumer(bg, c.ID); err != nil || got.Contact != "ops@acme.example" {
		t.Fatalf("after dropping v1: %+v, %v", got, err)
	}
	if r := reason(t, fresh, k.Secret, netip.MustParseAddr("203.0.113.9")); r != "" {
		t.Fatalf("key after rekey: %q", r)
	}
	// Rekey with a ring missing the version data is under reports it
	// (forced: the live instances lack v3 too).
	v3only, _ := keys.NewSecrets([]byte(sec.Pepper), "v3:"+key32())
	broken := keystest.Service(t, st, &keystest.Secrets{Secrets: v3only}, keys.Options{Clock: clock})
	if _, err := broken.Rekey(bg, false); !errors.As(err, &lack) || len(lack.Lacking) != 2 {
		t.Fatalf("Rekey to v3 while two instances lack it = %v", err)
	}
	if res, err := broken.Rekey(bg, true); err == nil || !res.Forced {
		t.Fatalf("forced Rekey without the old key = %+v, %v; want a decryption failure", res, err)
	}
}

func TestInputValidation(t *testing.T) {
	f := newFixture(t, keys.Options{})
	c := keystest.Consumer(t, f.svc, "acme")
	tests := []struct {
		name   string
		spec   keys.KeySpec
		fields []string
	}{
		{"bad consumer id", keys.KeySpec{ConsumerID: "x"}, []string{"consumer_id"}},
		{"bad scope", keys.KeySpec{ConsumerID: c.ID, Scopes: []string{"ok", "has space"}}, []string{"scopes[1]"}},
		{"duplicate scope", keys.KeySpec{ConsumerID: c.ID, Scopes: []string{"a", "a"}}, []string{"scopes[1]"}},
		{"past expiry", keys.KeySpec{ConsumerID: c.ID, ExpiresAt: t0.Add(-time.Second)}, []string{"expires_at"}},
		{"bad cidr", keys.KeySpec{ConsumerID: c.ID, AllowedCIDRs: []string{"10.0.0.0/33"}}, []string{"allowed_cidrs[0]"}},
		{"bad tier and label", keys.KeySpec{ConsumerID: c.ID, Tier: "Gold!", Labels: map[string]string{"Bad Key": "v"}}, []string{"tier", "labels"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.IssueKey(bg, tc.spec)
			var ie *keys.InvalidError
			if !errors.As(err, &ie) || len(ie.Fields) != len(tc.fields) {
				t.Fatalf("err = %v, want problems with %v", err, tc.fields)
			}
			for i, fld := range tc.fields {
				if ie.Fields[i].Field != fld {
					t.Errorf("problem %d on %q, want %q", i, ie.Fields[i].Field, fld)
				}
			}
		})
	}
	if _, err := f.svc.IssueKey(bg, keys.KeySpec{ConsumerID: "AAAAAAAAAAAA"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key for a missing consumer: %v", err)
	}
	if _, err := f.svc.CreateConsumer(bg, keys.ConsumerSpec{Name: ""}); err == nil {
		t.Fatal("empty consumer name accepted")
	}
}

func TestAdminTokens(t *testing.T) {
	f := newFixture(t, keys.Options{})
	boot, err := f.svc.Bootstrap(bg, "first-admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Bootstrap(bg, "again"); !errors.Is(err, keys.ErrAlreadyBootstrapped) {
		t.Fatalf("second bootstrap: %v", err)
	}
	id, err := f.svc.VerifyAdminToken(bg, boot.Secret)
	if err != nil || id.Role != "admin" || id.TokenID != boot.Token.ID {
		t.Fatalf("VerifyAdminToken = %+v, %v", id, err)
	}
	exp := t0.Add(time.Hour)
	op, err := f.svc.CreateAdminToken(bg, keys.AdminTokenSpec{Name: "ops", Role: "operator", ExpiresAt: exp}, "token:"+id.TokenID)
	if err != nil {
		t.Fatal(err)
	}
	apiKey, _, _ := keys.Generate(keys.KindLive)
	forged, _, _ := keys.Build(keys.KindAdmin, op.Token.ID)
	for _, tc := range []struct{ name, token, reason string }{
		{"api key", apiKey, "not an admin token"},
		{"forged", forged, "wrong admin token secret"},
		{"garbage", "Bearer xyz", "malformed admin token: unknown prefix"},
	} {
		_, err := f.svc.VerifyAdminToken(bg, tc.token)
		var rej *keys.Rejection
		if !errors.As(err, &rej) || rej.Reason != tc.reason {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.reason)
		}
	}
	f.clock.Advance(time.Hour)
	if _, err := f.svc.VerifyAdminToken(bg, op.Secret); err == nil {
		t.Fatal("expired admin token accepted")
	}
	if _, err := f.svc.RevokeAdminToken(bg, boot.Token.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.VerifyAdminToken(bg, boot.Secret); err == nil {
		t.Fatal("revoked admin token accepted")
	}
	evs, _ := f.svc.ListAudit(bg, 0, 10)
	if len(evs) != 1 || evs[0].Action != "admin_token.bootstrap" || evs[0].Actor != "cli:bootstrap" {
		t.Fatalf("audit = %+v", evs)
	}
	if n, err := f.svc.VerifyAudit(bg); err != nil || n != 1 {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
	if err := f.svc.Audit(bg, &audit.Event{Actor: "x", Action: "y", Outcome: audit.OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
}

// typo changes the character at i to a different base62 character.
func typo(s string, i int) string {
	c := byte('x')
	if s[i] == c {
		c = 'y'
	}
	return s[:i] + string(c) + s[i+1:]
}
