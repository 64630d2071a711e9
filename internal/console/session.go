package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
)

// CookieName is the session cookie. __Host-: only set over HTTPS, by this
// host, for path /, so no sibling host or plain-HTTP page can plant or
// overwrite it.
const CookieName = "__Host-portcullis_console"

// maxSessions bounds the sessions kept: a sign-in script with a valid
// token cannot grow memory without end (the oldest go first).
const maxSessions = 10_000

// session is a signed-in console user.
type session struct {
	actor   admin.Actor
	expires time.Time
}

// sessions are kept in this process, by the SHA-256 of their id: a memory
// dump does not hand out usable cookies. (One admin instance: a session
// does not carry over to another instance; see docs/console.md.)
type sessions struct {
	mu  sync.Mutex
	ttl time.Duration
	now func() time.Time
	m   map[[32]byte]*session
}

func newSessions(ttl time.Duration, now func() time.Time) *sessions {
	return &sessions{ttl: ttl, now: now, m: map[[32]byte]*session{}}
}

func sessionKey(id string) [32]byte { return sha256.Sum256([]byte(id)) }

// create starts a session for a and returns its id (256 random bits).
func (s *sessions) create(a admin.Actor) (string, time.Time) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	exp := now.Add(s.ttl)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= maxSessions {
		s.sweep(now)
	}
	for k := range s.m { // still full: drop any one; map order is random
		if len(s.m) < maxSessions {
			break
		}
		delete(s.m, k)
	}
	s.m[sessionKey(id)] = &session{actor: a, expires: exp}
	return id, exp
}

func (s *sessions) sweep(now time.Time) {
	for k, v := range s.m {
		if !now.Before(v.expires) {
			delete(s.m, k)
		}
	}
}

// get returns the live session with id, or nil.
func (s *sessions) get(id string) *session {
	if id == "" || len(id) > 64 {
		return nil
	}
	k := sessionKey(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[k]
	if v == nil {
		return nil
	}
	if !s.now().Before(v.expires) {
		delete(s.m, k)
		return nil
	}
	return v
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, sessionKey(id))
}

// endToken ends every session of an admin token (its token no longer
// checks out).
func (s *sessions) endToken(tokenID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.m {
		if v.actor.TokenID == tokenID {
			delete(s.m, k)
		}
	}
}

func sessionCookie(value string, expires time.Time) *http.Cookie {
	c := &http.Cookie{Name: CookieName, Value: value, Path: "/", HttpOnly: true, Secure: true,
		SameSite: http.SameSiteStrictMode}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	return c
}
