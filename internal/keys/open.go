package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/httpsig"
	"github.com/portcullis/portcullis/internal/store"
)

// OpenStore connects the store the keys block configures and applies its
// migrations.
func OpenStore(ctx context.Context, k config.Keys) (store.Store, error) {
	o := store.Options{MaxConns: k.Store.MaxConns, Timeout: k.Store.Timeout.D()}
	switch k.Store.Driver {
	case "sqlite":
		return store.OpenSQLite(ctx, k.Store.Path, o)
	case "postgres":
		return store.OpenPostgres(ctx, k.Store.DSN, o)
	}
	return nil, fmt.Errorf("keys.store.driver: unknown driver %q", k.Store.Driver)
}

// Open loads the secrets, opens the store and returns a started Service
// that owns the store (Close closes it). env resolves environment
// variables (os.LookupEnv).
func Open(ctx context.Context, k config.Keys, env config.LookupEnv, log *slog.Logger) (*Service, error) {
	sec, err := LoadSecrets(k, env)
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, k)
	if err != nil {
		return nil, err
	}
	o := OptionsFromConfig(k)
	o.Store, o.Secrets, o.Log = st, sec, log
	s, err := NewService(o)
	if err != nil {
		st.Close()
		return nil, err
	}
	s.closeStore = true
	s.Start()
	return s, nil
}

// Offline is a verifier for `portcullis validate`, which builds every
// route without connecting to the store: any call fails (closed).
type Offline struct{}

// Verify always fails with a technical error.
func (Offline) Verify(context.Context, string, netip.Addr) (*Verified, error) {
	return nil, errors.New("key store not connected (validate only)")
}

// CheckStore reports, offline, what would stop OpenStore: a SQLite file
// that cannot be created or opened where keys.store.path says, or a
// PostgreSQL DSN that does not parse. It connects to nothing.
func CheckStore(k config.Keys) error {
	switch k.Store.Driver {
	case "sqlite":
		if err := store.CheckSQLitePath(k.Store.Path); err != nil {
			return config.FieldError{Path: "keys.store.path", Message: err.Error()}
		}
	case "postgres":
		if err := store.CheckPostgresDSN(k.Store.DSN); err != nil {
			return config.FieldError{Path: "keys.store.dsn", Message: err.Error()}
		}
	}
	return nil
}

// PingStore contacts the configured store without changing it (validate
// --online): PostgreSQL must answer with a schema this binary knows; a
// SQLite file is checked offline by CheckStore.
func PingStore(ctx context.Context, k config.Keys) error {
	if k.Store.Driver != "postgres" {
		return nil
	}
	return store.ProbePostgres(ctx, k.Store.DSN)
}

// SigningKey always fails with ErrSigningKeysUnavailable.
func (Offline) SigningKey(context.Context, Signer, string) (httpsig.Key, error) {
	return httpsig.Key{}, fmt.Errorf("%w: key store not connected (validate only)", ErrSigningKeysUnavailable)
}
