package console

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
)

// A session lasts its ttl from sign-in, not longer; ending one or all of a
// token's sessions removes them; ids are stored only hashed.
func TestSessionLifetime(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSessions(15*time.Minute, func() time.Time { return now })
	a := admin.Actor{Name: "token:a", Role: admin.RoleAdmin, TokenID: "a"}
	id, exp := s.create(a)
	other, _ := s.create(a)
	if !exp.Equal(now.Add(15 * time.Minute)) {
		t.Fatalf("expires %v", exp)
	}
	for k := range s.m {
		if string(k[:]) == id {
			t.Fatal("a session id is stored in clear")
		}
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
			if got := s.get(tc.id) != nil; got != tc.live {
				t.Fatalf("live = %v, want %v", got, tc.live)
			}
		})
	}
	now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	id2, _ := s.create(a)
	s.endToken("a")
	if s.get(id2) != nil || s.get(other) != nil {
		t.Fatal("endToken left a session of the token")
	}
}
