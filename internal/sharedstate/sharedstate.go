// Package sharedstate owns the short-lived entries that request stages must
// agree on across gateway instances: replay caches (DPoP jti, HTTP
// message-signature nonces), idempotency keys with the response to replay,
// and blocks imposed by detectors.
//
// An entry is reserved by an owner (a random token the caller chooses, see
// NewOwner) and only that owner may extend, complete or release it, so an
// instance whose lease ran out cannot overwrite the entry someone else
// reserved after it. Every entry has a TTL and disappears when it runs out.
//
// Two Stores keep the same contract (one conformance suite runs against
// both): Memory, for a single instance, and Redis, shared by every instance
// that points at the same Redis (standalone, Sentinel or Cluster).
//
// Both fail closed. A Memory store that is full refuses new entries with
// ErrFull instead of evicting live ones, and a Redis store returns
// ErrUnavailable when Redis does not answer: an entry dropped early, or a
// replay check skipped, would let a replay through. The caller decides what
// an error means for the request; for replay and idempotency checks it
// should be a refusal.
package sharedstate

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is the stage an entry is in.
type State uint8

const (
	// InFlight: reserved, the owner is working on it.
	InFlight State = 1 + iota
	// Done: the outcome is final (Value holds it, if any). Seen markers are Done.
	Done
	// InDoubt: the owner gave up without knowing the outcome (a timeout, a
	// 5xx from upstream); a retry must not simply be replayed nor re-run.
	InDoubt
)

func (s State) String() string {
	switch s {
	case InFlight:
		return "in-flight"
	case Done:
		return "done"
	case InDoubt:
		return "in-doubt"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Key names an entry. In Redis the key is prefix{Scope}ID: Scope is the
// Redis Cluster hash tag, so all entries of one Scope live in one slot.
// Choose a Scope that spreads load (a client or key thumbprint, a tenant),
// not a constant per feature, which would put all of it on one node.
// Values taken from requests should be hashed by the caller first.
type Key struct {
	// Scope groups related entries; non-empty, without '{' or '}' (which
	// would move the hash tag and make two keys collide).
	Scope string
	// ID names the entry within Scope; non-empty.
	ID string
}

// MaxKeyBytes bounds len(Scope)+len(ID).
const MaxKeyBytes = 512

// MaxOwnerBytes bounds an owner token.
const MaxOwnerBytes = 128

// MaxTTL bounds a TTL: these entries are short-lived by nature, and a
// bound keeps expiry arithmetic far from overflow.
const MaxTTL = 366 * 24 * time.Hour

// Entry is what a store holds under a key. The owner is not part of it:
// the token is the holder's capability and is never read back.
type Entry struct {
	State State
	// Meta is what the reserver stored (a request fingerprint); nil if empty.
	Meta []byte
	// Value is what Complete stored (a response); nil if empty.
	Value []byte
	// TTL is how long the entry has left (to the millisecond in Redis);
	// 0 if unknown.
	TTL time.Duration
}

// Store is shared state with per-entry ownership and TTLs. TTLs are kept to
// the millisecond, rounded up. Methods are safe for concurrent use. Any
// method may return ErrInvalid (malformed arguments, nothing done); Reserve
// and Complete ErrTooLarge; Reserve and Seen ErrFull. Other errors are
// ErrUnavailable (the store could not answer): callers should treat them
// as a refusal.
type Store interface {
	// Reserve creates an InFlight entry held by owner, unless the key holds
	// a live entry: then reserved is false and cur is that entry, read in
	// the same atomic step.
	Reserve(ctx context.Context, k Key, owner string, meta []byte, ttl time.Duration) (cur Entry, reserved bool, err error)
	// Extend sets the entry's TTL to ttl from now (a lease extension).
	// ErrNotFound if absent or expired, ErrNotOwner if held by another owner.
	Extend(ctx context.Context, k Key, owner string, ttl time.Duration) error
	// Complete sets the entry's state (Done or InDoubt), its value, and its
	// TTL to ttl from now; Meta is kept. Errors as Extend.
	Complete(ctx context.Context, k Key, owner string, state State, value []byte, ttl time.Duration) error
	// Release deletes the entry. Errors as Extend.
	Release(ctx context.Context, k Key, owner string) error
	// Get returns the live entry under k, or ok false.
	Get(ctx context.Context, k Key) (e Entry, ok bool, err error)
	// Seen records a bare Done marker under k unless the key holds a live
	// entry, and reports whether it did: true the first time within ttl.
	// A marker has no owner, so no owner can extend or release it.
	Seen(ctx context.Context, k Key, ttl time.Duration) (first bool, err error)
}

var (
	// ErrNotFound: no live entry under the key (never reserved, released,
	// or expired).
	ErrNotFound = errors.New("sharedstate: no such entry")
	// ErrNotOwner: the entry is held by another owner (or is a Seen marker).
	ErrNotOwner = errors.New("sharedstate: entry held by another owner")
	// ErrFull: a Memory store holds its maximum of live entries and does
	// not evict them; nothing was written.
	ErrFull = errors.New("sharedstate: store full")
	// ErrTooLarge: meta or value is larger than the store's Limits.
	ErrTooLarge = errors.New("sharedstate: meta or value too large")
	// ErrInvalid: a malformed key, owner, TTL or state (a caller's bug).
	ErrInvalid = errors.New("sharedstate: invalid argument")
	// ErrUnavailable: the backing store did not answer or refused the
	// command; the operation may or may not have taken effect.
	ErrUnavailable = errors.New("sharedstate: store unavailable")
)

// Limits bound what one entry may hold. Zero means nothing may be stored
// (a replay cache needs neither); there is no default.
type Limits struct {
	// MaxMetaBytes bounds Reserve's meta.
	MaxMetaBytes int
	// MaxValueBytes bounds Complete's value.
	MaxValueBytes int
}

func (l Limits) validate() error {
	if l.MaxMetaBytes < 0 || l.MaxValueBytes < 0 {
		return fmt.Errorf("sharedstate: negative limits %+v", l)
	}
	return nil
}

// NewOwner returns a random owner token (128 bits).
func NewOwner() string { return rand.Text() }

func checkKey(k Key) error {
	switch {
	case k.Scope == "" || k.ID == "":
		return fmt.Errorf("%w: empty key scope or id", ErrInvalid)
	case strings.ContainsAny(k.Scope, "{}"):
		return fmt.Errorf("%w: key scope contains a brace", ErrInvalid)
	case len(k.Scope)+len(k.ID) > MaxKeyBytes:
		return fmt.Errorf("%w: key longer than %d bytes", ErrInvalid, MaxKeyBytes)
	}
	return nil
}

func checkOwner(owner string) error {
	if owner == "" || len(owner) > MaxOwnerBytes {
		return fmt.Errorf("%w: owner must be 1 to %d bytes", ErrInvalid, MaxOwnerBytes)
	}
	return nil
}

// checkTTL rounds ttl up to the millisecond, Redis's resolution, so both
// stores expire an entry at the same moment.
func checkTTL(ttl time.Duration) (time.Duration, error) {
	if ttl <= 0 || ttl > MaxTTL {
		return 0, fmt.Errorf("%w: ttl must be positive and at most %v", ErrInvalid, MaxTTL)
	}
	if r := ttl % time.Millisecond; r != 0 {
		ttl += time.Millisecond - r
	}
	return ttl, nil
}

func checkSize(what string, n, limit int) error {
	if n > limit {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, what, n, limit)
	}
	return nil
}

// checkOwned validates the arguments of an owner's operation.
func checkOwned(k Key, owner string, ttl time.Duration) (time.Duration, error) {
	if err := checkKey(k); err != nil {
		return 0, err
	}
	if err := checkOwner(owner); err != nil {
		return 0, err
	}
	return checkTTL(ttl)
}

func checkFinal(s State) error {
	if s != Done && s != InDoubt {
		return fmt.Errorf("%w: Complete needs Done or InDoubt, not %v", ErrInvalid, s)
	}
	return nil
}
