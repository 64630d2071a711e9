package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/store"
)

// AdminTokenSpec is a new admin token.
type AdminTokenSpec struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// ExpiresAt is optional (zero: no expiry).
	ExpiresAt time.Time `json:"expires_at"`
}

// IssuedToken is a new admin token: the only time its text exists.
type IssuedToken struct {
	Token *AdminToken `json:"token"`
	// Secret is the token text, shown once.
	Secret string `json:"secret"`
}

// CreateAdminToken mints an admin token. createdBy is the actor.
func (s *Service) CreateAdminToken(ctx context.Context, spec AdminTokenSpec, createdBy string) (*IssuedToken, error) {
	t, text, err := s.newAdminToken(spec, createdBy)
	if err != nil {
		return nil, err
	}
	if err := s.st.CreateAdminToken(ctx, t, s.auditFor(ctx, "admin_token:"+t.ID)); err != nil {
		return nil, err
	}
	return &IssuedToken{Token: adminTokenView(t), Secret: text}, nil
}

func (s *Service) newAdminToken(spec AdminTokenSpec, createdBy string) (*store.AdminToken, string, error) {
	var c checker
	c.name("name", spec.Name)
	if !roleNames[spec.Role] {
		c.add("role", "must be admin, operator or auditor")
	}
	c.expiry("expires_at", spec.ExpiresAt, s.clock.Now())
	if err := c.err(); err != nil {
		return nil, "", err
	}
	text, tok, err := Generate(KindAdmin)
	if err != nil {
		return nil, "", err
	}
	h, pv := s.pepperFor()
	return &store.AdminToken{ID: tok.ID, Name: spec.Name, Role: spec.Role, Hash: h.Sum(text), PepperVersion: pv,
		CreatedBy: createdBy, CreatedAt: s.clock.Now().UTC(), ExpiresAt: spec.ExpiresAt.UTC()}, text, nil
}

// Bootstrap mints the first admin token (role admin) and records it in the
// audit trail, in one transaction. It refuses with ErrAlreadyBootstrapped
// when any unrevoked admin token exists, also when another bootstrap runs
// at the same time: of concurrent calls at most one succeeds.
func (s *Service) Bootstrap(ctx context.Context, name string) (*IssuedToken, error) {
	t, text, err := s.newAdminToken(AdminTokenSpec{Name: name, Role: "admin"}, "cli:bootstrap")
	if err != nil {
		return nil, err
	}
	e := &audit.Event{Time: s.clock.Now().UTC(), Actor: "cli:bootstrap", Role: "admin",
		Action: "admin_token.bootstrap", Target: "admin_token:" + t.ID, Outcome: audit.OutcomeSuccess}
	err = s.st.BootstrapAdminToken(ctx, t, &store.Audit{Event: e, Chain: s.chainer()})
	if errors.Is(err, store.ErrConflict) {
		return nil, ErrAlreadyBootstrapped
	}
	if err != nil {
		return nil, err
	}
	return &IssuedToken{Token: adminTokenView(t), Secret: text}, nil
}

// AdminIdentity is a verified admin caller.
type AdminIdentity struct {
	TokenID string
	Name    string
	Role    string
}

// VerifyAdminToken checks a presented admin token. Failures are
// *Rejection; store failures are other errors.
func (s *Service) VerifyAdminToken(ctx context.Context, presented string) (*AdminIdentity, error) {
	tok, err := Parse(presented)
	if err != nil {
		var fe *FormatError
		errors.As(err, &fe)
		return nil, &Rejection{Reason: "malformed admin token: " + fe.Reason}
	}
	if tok.Kind != KindAdmin {
		return nil, &Rejection{Reason: "not an admin token", KeyID: tok.ID}
	}
	t, err := s.st.GetAdminToken(ctx, tok.ID)
	if errors.Is(err, store.ErrNotFound) {
		h, _ := s.pepperFor()
		h.Equal(presented, dummyHash) // same work as a wrong secret
		return nil, &Rejection{Reason: "unknown admin token", KeyID: tok.ID}
	}
	if err != nil {
		return nil, err
	}
	h, err := s.sec.Peppers.Hasher(t.PepperVersion)
	if err != nil {
		s.noteMissing(err)
		return nil, fmt.Errorf("admin token %s: %w", t.ID, err)
	}
	now := s.clock.Now()
	switch {
	case !h.Equal(presented, t.Hash):
		return nil, &Rejection{Reason: "wrong admin token secret", KeyID: tok.ID}
	case !t.RevokedAt.IsZero():
		return nil, &Rejection{Reason: "admin token revoked", KeyID: tok.ID}
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return nil, &Rejection{Reason: "admin token expired", KeyID: tok.ID}
	}
	if _, pv := s.pepperFor(); t.PepperVersion != pv {
		s.rehashLater("admin:"+t.ID, presented, t.Hash, func(ctx context.Context, newHash []byte, v uint32) (bool, error) {
			return s.st.RehashAdminToken(ctx, t.ID, t.Hash, newHash, v)
		})
	}
	return &AdminIdentity{TokenID: t.ID, Name: t.Name, Role: t.Role}, nil
}

// GetAdminToken returns one admin token's record.
func (s *Service) GetAdminToken(ctx context.Context, id string) (*AdminToken, error) {
	if !CheckID(id) {
		return nil, store.ErrNotFound
	}
	t, err := s.st.GetAdminToken(ctx, id)
	if err != nil {
		return nil, err
	}
	return adminTokenView(t), nil
}

// ListAdminTokens returns one page of admin tokens and the next cursor.
func (s *Service) ListAdminTokens(ctx context.Context, after string, limit int) ([]*AdminToken, string, error) {
	rows, err := s.st.ListAdminTokens(ctx, store.Page{After: after, Limit: limit + 1})
	if err != nil {
		return nil, "", err
	}
	return page(rows, limit, func(t *store.AdminToken) string { return t.ID },
		func(t *store.AdminToken) (*AdminToken, error) { return adminTokenView(t), nil })
}

// RevokeAdminToken revokes an admin token at once (tokens are checked
// against the store on every admin request).
func (s *Service) RevokeAdminToken(ctx context.Context, id string) (*AdminToken, error) {
	if !CheckID(id) {
		return nil, store.ErrNotFound
	}
	if err := s.st.RevokeAdminToken(ctx, id, s.clock.Now().UTC(), s.auditFor(ctx, "")); err != nil {
		return nil, err
	}
	return s.GetAdminToken(ctx, id)
}
