package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/store"
)

// CookieName is the session cookie. __Host-: only set over HTTPS, by this
// host, for path /, so no sibling host or plain-HTTP page can plant or
// overwrite it.
const CookieName = "__Host-portcullis_console"

// SessionStore keeps console sessions: the key store (store.Store), so a
// session works on every admin instance that shares it.
type SessionStore interface {
	CreateConsoleSession(ctx context.Context, cs *store.ConsoleSession) error
	GetConsoleSession(ctx context.Context, idHash []byte, now time.Time) (*store.ConsoleSession, error)
	DeleteConsoleSession(ctx context.Context, idHash []byte) error
	DeleteConsoleSessionsOfToken(ctx context.Context, tokenID string) error
}

// sessions are stored by the SHA-256 of their id: a copy of the database
// does not hand out usable cookies.
type sessions struct {
	st  SessionStore
	ttl time.Duration
	now func() time.Time
}

func sessionKey(id string) []byte {
	sum := sha256.Sum256([]byte(id))
	return sum[:]
}

// create starts a session for a and returns its id (256 random bits).
func (s *sessions) create(ctx context.Context, a *admin.Actor) (string, time.Time, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.now().UTC()
	exp := now.Add(s.ttl)
	err := s.st.CreateConsoleSession(ctx, &store.ConsoleSession{IDHash: sessionKey(id), TokenID: a.TokenID,
		Actor: a.Name, Role: string(a.Role), CreatedAt: now, ExpiresAt: exp})
	return id, exp, err
}

// get returns the actor of the live session id; nil, nil when there is
// none (unknown, expired, ended).
func (s *sessions) get(ctx context.Context, id string) (*admin.Actor, error) {
	if id == "" || len(id) > 64 {
		return nil, nil
	}
	cs, err := s.st.GetConsoleSession(ctx, sessionKey(id), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &admin.Actor{Name: cs.Actor, Role: admin.Role(cs.Role), TokenID: cs.TokenID}, nil
}

func (s *sessions) end(ctx context.Context, id string) error {
	return s.st.DeleteConsoleSession(ctx, sessionKey(id))
}

// endToken ends every session of an admin token (it no longer checks out).
func (s *sessions) endToken(ctx context.Context, tokenID string) error {
	return s.st.DeleteConsoleSessionsOfToken(ctx, tokenID)
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
