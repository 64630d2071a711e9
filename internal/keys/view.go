package keys

import (
	"time"

	"github.com/portcullis/portcullis/internal/store"
)

// Effective key states. Expired is derived: a key past its expiry, or a
// rotated key past its grace period.
const (
	StateActive   = store.StateActive
	StateRotating = store.StateRotating
	StateRevoked  = store.StateRevoked
	StateExpired  = "expired"
)

// Consumer is a consumer as the admin API shows it, sensitive metadata
// decrypted.
type Consumer struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Groups    []string          `json:"groups"`
	Tier      string            `json:"tier,omitempty"`
	Labels    map[string]string `json:"labels"`
	Disabled  bool              `json:"disabled"`
	Contact   string            `json:"contact,omitempty"`
	Notes     string            `json:"notes,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// Key is an API key as the admin API shows it: never its secret or hash.
type Key struct {
	ID          string `json:"id"`
	ConsumerID  string `json:"consumer_id"`
	Environment string `json:"environment"`
	// Prefix is the public start of the key text ("pcl_live_<id>_"), so
	// people can match a key they hold to this record.
	Prefix        string            `json:"prefix"`
	Scopes        []string          `json:"scopes"`
	Tier          string            `json:"tier,omitempty"`
	Labels        map[string]string `json:"labels"`
	AllowedCIDRs  []string          `json:"allowed_cidrs"`
	Notes         string            `json:"notes,omitempty"`
	State         string            `json:"state"`
	ExpiresAt     time.Time         `json:"expires_at,omitzero"`
	GraceUntil    time.Time         `json:"grace_until,omitzero"`
	RevokedAt     time.Time         `json:"revoked_at,omitzero"`
	SuccessorID   string            `json:"successor_id,omitempty"`
	PredecessorID string            `json:"predecessor_id,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	LastUsedAt    time.Time         `json:"last_used_at,omitzero"`
	RequestCount  int64             `json:"request_count"`
}

// AdminToken is an admin token as the admin API shows it.
type AdminToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// consumerSecrets is the sealed part of a consumer.
type consumerSecrets struct {
	Contact string `json:"contact,omitempty"`
	Notes   string `json:"notes,omitempty"`
}

// keySecrets is the sealed part of a key.
type keySecrets struct {
	AllowedCIDRs []string `json:"allowed_cidrs,omitempty"`
	Notes        string   `json:"notes,omitempty"`
}

// effectiveState is the state a key has now.
func effectiveState(state string, expiresAt, graceUntil, now time.Time) string {
	switch {
	case state == store.StateRevoked:
		return StateRevoked
	case !expiresAt.IsZero() && !now.Before(expiresAt):
		return StateExpired
	case state == store.StateRotating && !now.Before(graceUntil):
		return StateExpired
	}
	return state
}

func orEmpty(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func orEmptyMap(v map[string]string) map[string]string {
	if v == nil {
		return map[string]string{}
	}
	return v
}

func adminTokenView(t *store.AdminToken) *AdminToken {
	return &AdminToken{ID: t.ID, Name: t.Name, Role: t.Role, CreatedBy: t.CreatedBy,
		CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt}
}
