// Package store owns persistence for the control plane: consumers, API keys
// (their hashes, never their secrets), admin tokens and the append-only
// audit trail, behind one Store interface with two implementations over
// database/sql: embedded SQLite (modernc.org/sqlite, the default, one
// gateway instance) and PostgreSQL (pgx v5, several instances). Versioned
// migrations run at Open. Changes that affect verification are published on
// a change feed: in-process for SQLite, LISTEN/NOTIFY for PostgreSQL.
//
// The store stores what it is given: hashing and encryption happen in
// package keys, and Sealed fields are opaque ciphertext here.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
)

// Errors callers test with errors.Is.
var (
	// ErrNotFound: no such row (deleted consumers are not found either).
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness or state rule was broken (a duplicate name,
	// rotating a key that is not active).
	ErrConflict = errors.New("conflict")
	// ErrNotAudited: the change's audit event could not be written, so the
	// change was rolled back. Nothing changed and nothing was published.
	ErrNotAudited = errors.New("the audit event could not be written; the change was not made")
)

// Audit is the audit event of a change, appended in the change's own
// transaction: the change and its event commit together or not at all.
// Mutations take a nil *Audit to record nothing.
//
// On success Event has its Seq, PrevHash and Hash (as AppendAudit fills
// them); on any failure they are left zero, so a caller can tell whether
// the event is in the trail.
type Audit struct {
	Event *audit.Event
	Chain *audit.Chainer
}

// Key states as stored. "expired" is never stored: it is derived from
// ExpiresAt and GraceUntil at read time (package keys).
const (
	StateActive   = "active"
	StateRotating = "rotating"
	StateRevoked  = "revoked"
)

// Consumer is an API client organisation or application that owns keys.
type Consumer struct {
	ID       string
	Name     string
	Groups   []string
	Tier     string
	Labels   map[string]string
	Disabled bool
	// Sealed is the encrypted sensitive metadata (contact, notes).
	Sealed    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Key is an API key's stored record.
type Key struct {
	ID          string
	ConsumerID  string
	Environment string
	// Hash is HMAC-SHA-256 of the key under the pepper.
	Hash []byte
	// PepperVersion is the version of the pepper Hash was made with (1 for
	// keys from before pepper versions).
	PepperVersion uint32
	Scopes        []string
	Tier          string
	Labels        map[string]string
	// Sealed is the encrypted sensitive metadata (allowed CIDRs, notes).
	Sealed        []byte
	State         string
	ExpiresAt     time.Time // zero: never
	GraceUntil    time.Time // when a rotating key stops working
	SuccessorID   string
	PredecessorID string
	RevokedAt     time.Time
	CreatedAt     time.Time
	LastUsedAt    time.Time
	RequestCount  int64
}

// AdminToken is an admin API credential's stored record.
type AdminToken struct {
	ID   string
	Name string
	Role string
	Hash []byte
	// PepperVersion is the version of the pepper Hash was made with.
	PepperVersion uint32
	CreatedBy     string
	CreatedAt     time.Time
	ExpiresAt     time.Time // zero: never
	RevokedAt     time.Time
}

// Instance is a running gateway in the store's registry: the master key
// and pepper versions it holds, so a rekey (or a new write version) can
// wait until every live instance can read what it writes. A heartbeat
// keeps it alive; past ExpiresAt it is dead (crashed) and ignored.
type Instance struct {
	ID                string
	Host              string
	MasterKeyVersions []uint32
	PepperVersions    []uint32
	StartedAt         time.Time
	HeartbeatAt       time.Time
	ExpiresAt         time.Time
}

// SigningKey is a consumer's public key for HTTP Message Signatures.
type SigningKey struct {
	ID         string
	ConsumerID string
	// KeyID is the keyid clients name in their signatures: unique per
	// consumer, and never reused (a revoked key keeps its keyid).
	KeyID string
	Alg   string
	// Sealed is the public key (a JWK), encrypted and bound to the row.
	Sealed        []byte
	State         string
	ExpiresAt     time.Time // zero: never
	GraceUntil    time.Time // when a rotating key stops working
	SuccessorID   string
	PredecessorID string
	RevokedAt     time.Time
	CreatedAt     time.Time
}

// Identity maps a caller authenticated elsewhere (a token issuer's
// client_id or azp) to a consumer of the key store, whose signing keys
// its signatures are then verified with.
type Identity struct {
	ID         string
	Issuer     string
	ClientID   string
	ConsumerID string
	CreatedAt  time.Time
}

// Usage is a batch of uses of one key.
type Usage struct {
	KeyID    string
	Count    int64
	LastUsed time.Time
}

// Sealed is one encrypted metadata value, for re-encryption.
type Sealed struct {
	Kind string // "consumer", "key" or "signing_key"
	ID   string
	Data []byte
}

// Page asks for one page of a list, in id order.
type Page struct {
	// After is the last id of the previous page ("" for the first).
	After string
	// Limit is the page size (at least 1).
	Limit int
}

// KeyFilter narrows ListKeys.
type KeyFilter struct {
	ConsumerID string
}

// ChangeKind is what a change-feed entry invalidates.
type ChangeKind int

// Change kinds.
const (
	// KeyChanged: one key's state or attributes changed.
	KeyChanged ChangeKind = iota + 1
	// ConsumerChanged: a consumer changed (disabled, deleted, groups, tier),
	// which affects all its keys.
	ConsumerChanged
	// SigningKeysChanged: a signing key of the consumer ID changed.
	SigningKeysChanged
	// IdentitiesChanged: an identity mapping was added or removed (ID is
	// the identity's id).
	IdentitiesChanged
	// FeedReset: changes may have been missed (the feed (re)connected);
	// drop everything cached.
	FeedReset
	// FeedDown: the feed lost its connection (Err says why) and is
	// reconnecting; changes made elsewhere are not heard until FeedReset.
	FeedDown
)

// Change is one change-feed entry.
type Change struct {
	Kind ChangeKind
	ID   string
	Err  error
}

// Store is the control plane's persistence. Every method is safe for
// concurrent use.
//
// The mutations an admin performs take an optional *Audit, written in the
// same transaction as the change; if it cannot be written the mutation
// fails with an error wrapping ErrNotAudited and changes nothing. A
// mutation that fails for any other reason (ErrNotFound, ErrConflict)
// writes no event either: the caller records failed attempts itself.
type Store interface {
	// CreateConsumer stores a new consumer; ErrConflict if its id or name
	// is taken.
	CreateConsumer(ctx context.Context, c *Consumer, a *Audit) error
	// GetConsumer returns a consumer that is not deleted.
	GetConsumer(ctx context.Context, id string) (*Consumer, error)
	// ListConsumers returns a page of consumers that are not deleted.
	ListConsumers(ctx context.Context, p Page) ([]*Consumer, error)
	// UpdateConsumer replaces the consumer's mutable fields.
	UpdateConsumer(ctx context.Context, c *Consumer, a *Audit) error
	// DeleteConsumer removes the consumer from lists and lookups, revokes
	// every key and signing key it owns and removes its identity
	// mappings, in one transaction.
	DeleteConsumer(ctx context.Context, id string, at time.Time, a *Audit) error

	// CreateKey stores a new key; ErrNotFound if its consumer is missing
	// or deleted.
	CreateKey(ctx context.Context, k *Key, a *Audit) error
	// GetKey returns a key in any state.
	GetKey(ctx context.Context, id string) (*Key, error)
	// GetKeyForVerify returns a key with its consumer (nil if the consumer
	// was deleted): everything verification needs in one query.
	GetKeyForVerify(ctx context.Context, id string) (*Key, *Consumer, error)
	// ListKeys returns a page of keys in any state.
	ListKeys(ctx context.Context, f KeyFilter, p Page) ([]*Key, error)
	// RotateKey marks the active key oldID rotating until graceUntil and
	// creates successor, in one transaction. ErrConflict if oldID is not
	// active.
	RotateKey(ctx context.Context, oldID string, graceUntil time.Time, successor *Key, a *Audit) error
	// RevokeKey revokes a key at once. Revoking a revoked key changes
	// nothing (its event, if any, is still written).
	RevokeKey(ctx context.Context, id string, at time.Time, a *Audit) error
	// RecordUsage adds request counts and moves last-used times forward,
	// for many keys in one transaction.
	RecordUsage(ctx context.Context, batch []Usage) error
	// RehashKey replaces a key's hash and pepper version if its hash is
	// still old (a lazy re-hash under a new pepper), publishing the
	// change; false when it was not (already re-hashed, or gone).
	RehashKey(ctx context.Context, id string, old, new []byte, pepperVersion uint32) (bool, error)

	// CreateSigningKey stores a consumer's new signing key; ErrNotFound if
	// the consumer is missing or deleted, ErrConflict if the consumer
	// already has (or had) a key with its KeyID.
	CreateSigningKey(ctx context.Context, k *SigningKey, a *Audit) error
	// GetSigningKey returns a signing key in any state.
	GetSigningKey(ctx context.Context, id string) (*SigningKey, error)
	// FindSigningKey returns the consumer's key with keyid, in any state,
	// with the consumer (nil if deleted): what verification needs in one
	// query.
	FindSigningKey(ctx context.Context, consumerID, keyID string) (*SigningKey, *Consumer, error)
	// ListSigningKeys returns a page of a consumer's signing keys (every
	// consumer's when consumerID is "").
	ListSigningKeys(ctx context.Context, consumerID string, p Page) ([]*SigningKey, error)
	// RotateSigningKey marks the active key oldID rotating until
	// graceUntil and stores successor (same consumer), in one transaction.
	// ErrConflict if oldID is not active or the successor's KeyID is taken.
	RotateSigningKey(ctx context.Context, oldID string, graceUntil time.Time, successor *SigningKey, a *Audit) error
	// RevokeSigningKey revokes a signing key at once. Revoking a revoked
	// key changes nothing (its event, if any, is still written).
	RevokeSigningKey(ctx context.Context, id string, at time.Time, a *Audit) error

	// CreateIdentity maps an issuer's client to a consumer; ErrNotFound if
	// the consumer is missing, ErrConflict if the client is mapped already.
	CreateIdentity(ctx context.Context, i *Identity, a *Audit) error
	// GetIdentity returns one mapping.
	GetIdentity(ctx context.Context, id string) (*Identity, error)
	// FindIdentity returns the mapping of an issuer's client.
	FindIdentity(ctx context.Context, issuer, clientID string) (*Identity, error)
	// ListIdentities returns a page of a consumer's mappings (every
	// consumer's when consumerID is "").
	ListIdentities(ctx context.Context, consumerID string, p Page) ([]*Identity, error)
	// DeleteIdentity removes a mapping.
	DeleteIdentity(ctx context.Context, id string, a *Audit) error

	// CreateAdminToken stores a new admin token.
	CreateAdminToken(ctx context.Context, t *AdminToken, a *Audit) error
	// GetAdminToken returns an admin token in any state.
	GetAdminToken(ctx context.Context, id string) (*AdminToken, error)
	// ListAdminTokens returns a page of admin tokens.
	ListAdminTokens(ctx context.Context, p Page) ([]*AdminToken, error)
	// RevokeAdminToken revokes a token; revoking twice changes nothing
	// (its event, if any, is still written).
	RevokeAdminToken(ctx context.Context, id string, at time.Time, a *Audit) error
	// RehashAdminToken is RehashKey for an admin token.
	RehashAdminToken(ctx context.Context, id string, old, new []byte, pepperVersion uint32) (bool, error)
	// CountAdminTokens counts tokens neither revoked nor expired at at.
	CountAdminTokens(ctx context.Context, at time.Time) (int, error)

	// CreateConsoleSession stores a web console session (and drops the
	// expired ones); ErrConflict if its id hash exists.
	CreateConsoleSession(ctx context.Context, cs *ConsoleSession) error
	// GetConsoleSession returns the session with this id hash that is
	// unexpired at now; ErrNotFound otherwise.
	GetConsoleSession(ctx context.Context, idHash []byte, now time.Time) (*ConsoleSession, error)
	// DeleteConsoleSession ends one session (no error if absent).
	DeleteConsoleSession(ctx context.Context, idHash []byte) error
	// DeleteConsoleSessionsOfToken ends every session of an admin token.
	DeleteConsoleSessionsOfToken(ctx context.Context, tokenID string) error
	// BootstrapAdminToken stores t only if no unrevoked admin token exists,
	// atomically: of concurrent calls at most one succeeds, the others get
	// ErrConflict.
	BootstrapAdminToken(ctx context.Context, t *AdminToken, a *Audit) error

	// AppendAudit assigns e its sequence number and chain hash and appends
	// it, serialised with other appends. It is for events that record no
	// change (reads, denied or failed attempts); a change's event goes with
	// the change (Audit). Failures wrap ErrNotAudited.
	AppendAudit(ctx context.Context, e *audit.Event, chain *audit.Chainer) error
	// ListAudit returns up to limit events after afterSeq, in order.
	ListAudit(ctx context.Context, afterSeq int64, limit int) ([]audit.Event, error)

	// ListSealed pages through encrypted metadata of kind ("consumer" or
	// "key") in id order.
	ListSealed(ctx context.Context, kind, after string, limit int) ([]Sealed, error)
	// ReplaceSealed swaps one encrypted value if it still equals old.
	ReplaceSealed(ctx context.Context, kind, id string, old, new []byte) (bool, error)

	// Heartbeat records inst (inserting or replacing its row) and deletes
	// the rows of instances that expired before inst.HeartbeatAt.
	Heartbeat(ctx context.Context, inst *Instance) error
	// ListInstances returns the instances alive at at (ExpiresAt after
	// it), in id order.
	ListInstances(ctx context.Context, at time.Time) ([]*Instance, error)
	// RemoveInstance deletes an instance's row (it is stopping).
	RemoveInstance(ctx context.Context, id string) error

	// Watch delivers changes to fn until ctx ends. It starts with a
	// FeedReset once the feed is live. Only one Watch runs per Store.
	Watch(ctx context.Context, fn func(Change)) error
	// FeedErr is nil while the change feed is live.
	FeedErr() error
	// Ping checks the database answers.
	Ping(ctx context.Context) error
	// Close releases connections.
	Close() error
}
