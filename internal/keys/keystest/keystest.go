// Package keystest owns helpers for tests that need a real key service: a
// settable clock, fixed test secrets, and a started keys.Service on a fresh
// SQLite or PostgreSQL database.
package keystest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/store"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Secrets are a pepper and master key for one test, with their raw values
// so tests can check they never leak.
type Secrets struct {
	Pepper    string
	MasterKey string
	*keys.Secrets
}

// NewSecrets makes random secrets.
func NewSecrets(t testing.TB) *Secrets {
	t.Helper()
	p := make([]byte, 36)
	m := make([]byte, 32)
	_, _ = rand.Read(p)
	_, _ = rand.Read(m)
	s := &Secrets{Pepper: base64.StdEncoding.EncodeToString(p), MasterKey: "v1:" + base64.StdEncoding.EncodeToString(m)}
	var err error
	if s.Secrets, err = keys.NewSecrets([]byte(s.Pepper), s.MasterKey); err != nil {
		t.Fatal(err)
	}
	return s
}

// SQLite opens a store on a fresh file, closed when t ends.
func SQLite(t testing.TB) store.Store {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "keys.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Postgres opens a store on dsn, closed when t ends.
func Postgres(t testing.TB, dsn string) store.Store {
	t.Helper()
	st, err := store.OpenPostgres(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Service starts a keys.Service over st (closed when t ends). o's Store
// and Secrets are filled in; set its other fields to override defaults.
func Service(t testing.TB, st store.Store, sec *Secrets, o keys.Options) *keys.Service {
	t.Helper()
	o.Store, o.Secrets = st, sec.Secrets
	def := keys.DefaultOptions()
	// Tests set only what they care about; the rest takes the defaults.
	for _, f := range []struct {
		v *time.Duration
		d time.Duration
	}{{&o.CacheTTL, def.CacheTTL}, {&o.NegativeTTL, def.NegativeTTL}, {&o.StaleIfError, def.StaleIfError},
		{&o.RotationGrace, def.RotationGrace}, {&o.UsageFlush, def.UsageFlush}} {
		if *f.v == 0 {
			*f.v = f.d
		}
	}
	if o.CacheSize == 0 {
		o.CacheSize = def.CacheSize
	}
	s, err := keys.NewService(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Consumer creates a consumer named name.
func Consumer(t testing.TB, s *keys.Service, name string) *keys.Consumer {
	t.Helper()
	c, err := s.CreateConsumer(context.Background(), keys.ConsumerSpec{Name: name, Groups: []string{"partners"}, Tier: "gold"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Key issues a key for consumer with scopes.
func Key(t testing.TB, s *keys.Service, consumer string, scopes ...string) *keys.Issued {
	t.Helper()
	k, err := s.IssueKey(context.Background(), keys.KeySpec{ConsumerID: consumer, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Secretish returns the pieces of a credential that must never appear in
// a log or an audit record: the whole text and its secret part.
func Secretish(credential string) []string {
	out := []string{credential}
	if i := strings.LastIndexByte(credential, '_'); i > 0 && len(credential)-i > 20 {
		out = append(out, credential[i+1:len(credential)-6])
	}
	return out
}
