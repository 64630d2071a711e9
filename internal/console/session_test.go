package console

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/keys/keystest"
)

// A session lasts its ttl from sign-in, not longer; ending one or all of a
// token's sessions removes them; the store holds only the id's hash.
func TestSessionLifetime(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := keystest.SQLite(t)
	s := &sessions{st: st, ttl: 15 * time.Minute, now: func() time.Time { return now }}
	a := &admin.Actor{Name: "token:a", Role: admin.RoleAdmin, TokenID: "a"}
	id, exp, err := s.create(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	other, _, _ := s.create(ctx, a)
	if !exp.Equal(now.Add(15 * time.Minute)) {
		t.Fatalf("expires %v", exp)
	}
	if _, err := st.GetConsoleSession(ctx, []byte(id), now); err == nil {
		t.Fatal("the store finds a session by its clear id")
	}
	if cs, err := st.GetConsoleSession(ctx, sessionKey(id), now); err != nil || !bytes.Equal(cs.IDHash, sessionKey(id)) {
		t.Fatalf("by hash: %v %v", cs, err)
	}
	for _, tc := range []struct {
		name    string
		advance time.Duration
		id      string
		live    bool
	}{
		{"fresh", 0, id, true},
		{"just before expiry", 15*time.Minute - time.Second, id, true},
		{"at expiry", time.Second, id, false},
		{"unknown id", 0, "nope", false},
		{"oversized id", 0, string(make([]byte, 100)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = now.Add(tc.advance)
			got, err := s.get(ctx, tc.id)
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != tc.live {
				t.Fatalf("live = %v, want %v", got != nil, tc.live)
			}
			if got != nil && *got != *a {
				t.Fatalf("actor %+v, want %+v", got, a)
			}
		})
	}
	now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	id2, _, _ := s.create(ctx, a)
	if err := s.endToken(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for _, x := range []string{id2, other} {
		if got, _ := s.get(ctx, x); got != nil {
			t.Fatal("endToken left a session of the token")
		}
	}
	id3, _, _ := s.create(ctx, a)
	if err := s.end(ctx, id3); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.get(ctx, id3); got != nil {
		t.Fatal("end left the session")
	}
}
