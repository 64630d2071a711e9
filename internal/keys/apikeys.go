package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/store"
)

// KeySpec is a key to issue.
type KeySpec struct {
	ConsumerID string   `json:"consumer_id"`
	Scopes     []string `json:"scopes"`
	// ExpiresAt is optional (zero: the key does not expire).
	ExpiresAt time.Time `json:"expires_at"`
	// AllowedCIDRs restrict the source addresses (encrypted at rest).
	AllowedCIDRs []string          `json:"allowed_cidrs"`
	Tier         string            `json:"tier"`
	Labels       map[string]string `json:"labels"`
	Notes        string            `json:"notes"`
}

// RotateSpec asks for a rotation.
type RotateSpec struct {
	// Grace is how long the old key keeps working; nil takes the
	// configured rotation_grace. At most 30 days; 0 stops it at once.
	Grace *time.Duration
	// ExpiresAt, when set, replaces the successor's expiry (by default it
	// keeps the old key's).
	ExpiresAt time.Time
}

// Issued is a newly created key: the only time its text exists.
type Issued struct {
	Key *Key `json:"key"`
	// Secret is the full key text. It is shown once and never stored.
	Secret string `json:"secret"`
}

func (s *Service) checkKeySpec(spec *KeySpec) error {
	var c checker
	if !CheckID(spec.ConsumerID) {
		c.add("consumer_id", "must be a consumer id")
	}
	c.list("scopes", spec.Scopes, scopeRe, "scopes")
	c.expiry("expires_at", spec.ExpiresAt, s.clock.Now())
	spec.AllowedCIDRs = c.cidrs("allowed_cidrs", spec.AllowedCIDRs)
	c.tier("tier", spec.Tier)
	c.labels("labels", spec.Labels)
	c.text("notes", spec.Notes)
	return c.err()
}

// IssueKey creates a key for a consumer and returns its text, once.
func (s *Service) IssueKey(ctx context.Context, spec KeySpec) (*Issued, error) {
	if err := s.checkKeySpec(&spec); err != nil {
		return nil, err
	}
	k, text, err := s.newKey(spec, s.clock.Now().UTC())
	if err != nil {
		return nil, err
	}
	if err := s.st.CreateKey(ctx, k, s.auditFor(ctx, "key:"+k.ID)); err != nil {
		return nil, err
	}
	return &Issued{Key: s.keyView(k, spec.AllowedCIDRs, spec.Notes), Secret: text}, nil
}

func (s *Service) newKey(spec KeySpec, now time.Time) (*store.Key, string, error) {
	text, tok, err := Generate(s.o.Environment)
	if err != nil {
		return nil, "", err
	}
	sealed, err := s.seal("key", tok.ID, keySecrets{AllowedCIDRs: spec.AllowedCIDRs, Notes: spec.Notes})
	if err != nil {
		return nil, "", err
	}
	h, pv := s.pepperFor()
	return &store.Key{
		ID: tok.ID, ConsumerID: spec.ConsumerID, Environment: string(s.o.Environment),
		Hash: h.Sum(text), PepperVersion: pv, Scopes: spec.Scopes, Tier: spec.Tier, Labels: spec.Labels,
		Sealed: sealed, State: store.StateActive, ExpiresAt: spec.ExpiresAt.UTC(), CreatedAt: now,
	}, text, nil
}

// GetKey returns a key's record (never its secret).
func (s *Service) GetKey(ctx context.Context, id string) (*Key, error) {
	if !CheckID(id) {
		return nil, store.ErrNotFound
	}
	k, err := s.st.GetKey(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.keyViewSealed(k)
}

// ListKeys returns one page of keys, optionally of one consumer, and the
// next page's cursor.
func (s *Service) ListKeys(ctx context.Context, consumerID, after string, limit int) ([]*Key, string, error) {
	rows, err := s.st.ListKeys(ctx, store.KeyFilter{ConsumerID: consumerID}, store.Page{After: after, Limit: limit + 1})
	if err != nil {
		return nil, "", err
	}
	return page(rows, limit, func(k *store.Key) string { return k.ID }, s.keyViewSealed)
}

// RotateKey issues a successor with the same grants and keeps the old key
// working for the grace period, after which it stops by itself. It returns
// the successor (with its text, once) and the old key.
func (s *Service) RotateKey(ctx context.Context, id string, spec RotateSpec) (*Issued, *Key, error) {
	old, err := s.GetKey(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	grace := s.o.RotationGrace
	var c checker
	if spec.Grace != nil {
		grace = *spec.Grace
		if grace < 0 || grace > config.MaxRotationGrace {
			c.add("grace", "must be between 0s and 30d")
		}
	}
	now := s.clock.Now().UTC()
	ks := KeySpec{ConsumerID: old.ConsumerID, Scopes: old.Scopes, ExpiresAt: old.ExpiresAt,
		AllowedCIDRs: old.AllowedCIDRs, Tier: old.Tier, Labels: old.Labels, Notes: old.Notes}
	if !spec.ExpiresAt.IsZero() {
		c.expiry("expires_at", spec.ExpiresAt, now)
		ks.ExpiresAt = spec.ExpiresAt
	}
	if err := c.err(); err != nil {
		return nil, nil, err
	}
	if old.State != StateActive {
		return nil, nil, fmt.Errorf("%w: the key is %s, only an active key can be rotated", store.ErrConflict, old.State)
	}
	k, text, err := s.newKey(ks, now)
	if err != nil {
		return nil, nil, err
	}
	if err := s.st.RotateKey(ctx, id, now.Add(grace), k, s.auditFor(ctx, "")); err != nil {
		return nil, nil, err
	}
	oldNow, err := s.GetKey(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return &Issued{Key: s.keyView(k, ks.AllowedCIDRs, ks.Notes), Secret: text}, oldNow, nil
}

// RevokeKey stops a key at once, on every instance.
func (s *Service) RevokeKey(ctx context.Context, id string) (*Key, error) {
	if !CheckID(id) {
		return nil, store.ErrNotFound
	}
	if err := s.st.RevokeKey(ctx, id, s.clock.Now().UTC(), s.auditFor(ctx, "")); err != nil {
		return nil, err
	}
	return s.GetKey(ctx, id)
}

func (s *Service) keyViewSealed(k *store.Key) (*Key, error) {
	var ks keySecrets
	if len(k.Sealed) > 0 {
		if err := s.openSealed(k.Sealed, "key", k.ID, &ks); err != nil {
			return nil, fmt.Errorf("reading key metadata: %w", err)
		}
	}
	return s.keyView(k, ks.AllowedCIDRs, ks.Notes), nil
}

func (s *Service) keyView(k *store.Key, cidrs []string, notes string) *Key {
	return &Key{
		ID: k.ID, ConsumerID: k.ConsumerID, Environment: k.Environment,
		Prefix: prefix + k.Environment + "_" + k.ID + "_", Scopes: orEmpty(k.Scopes), Tier: k.Tier,
		Labels: orEmptyMap(k.Labels), AllowedCIDRs: orEmpty(cidrs), Notes: notes,
		State:     effectiveState(k.State, k.ExpiresAt, k.GraceUntil, s.clock.Now()),
		ExpiresAt: k.ExpiresAt, GraceUntil: k.GraceUntil, RevokedAt: k.RevokedAt,
		SuccessorID: k.SuccessorID, PredecessorID: k.PredecessorID, CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, RequestCount: k.RequestCount,
	}
}

// ErrAlreadyBootstrapped means an admin token exists, so bootstrap refuses
// to mint another without one.
var ErrAlreadyBootstrapped = errors.New("an admin token already exists: create more through the admin API")
