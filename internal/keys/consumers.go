package keys

import (
	"context"
	"fmt"

	"github.com/portcullis/portcullis/internal/store"
)

// ConsumerSpec is a new consumer.
type ConsumerSpec struct {
	Name     string            `json:"name"`
	Groups   []string          `json:"groups"`
	Tier     string            `json:"tier"`
	Labels   map[string]string `json:"labels"`
	Disabled bool              `json:"disabled"`
	// Contact and Notes are encrypted at rest.
	Contact string `json:"contact"`
	Notes   string `json:"notes"`
}

// ConsumerPatch changes the fields that are set.
type ConsumerPatch struct {
	Name     *string            `json:"name"`
	Groups   *[]string          `json:"groups"`
	Tier     *string            `json:"tier"`
	Labels   *map[string]string `json:"labels"`
	Disabled *bool              `json:"disabled"`
	Contact  *string            `json:"contact"`
	Notes    *string            `json:"notes"`
}

func (spec *ConsumerSpec) check() error {
	var c checker
	c.name("name", spec.Name)
	c.list("groups", spec.Groups, scopeRe, "groups")
	c.tier("tier", spec.Tier)
	c.labels("labels", spec.Labels)
	c.text("contact", spec.Contact)
	c.text("notes", spec.Notes)
	return c.err()
}

// CreateConsumer validates spec and stores a new consumer.
func (s *Service) CreateConsumer(ctx context.Context, spec ConsumerSpec) (*Consumer, error) {
	if err := spec.check(); err != nil {
		return nil, err
	}
	id, err := NewID()
	if err != nil {
		return nil, err
	}
	now := s.clock.Now().UTC()
	sealed, err := s.seal("consumer", id, consumerSecrets{Contact: spec.Contact, Notes: spec.Notes})
	if err != nil {
		return nil, err
	}
	c := &store.Consumer{ID: id, Name: spec.Name, Groups: spec.Groups, Tier: spec.Tier, Labels: spec.Labels,
		Disabled: spec.Disabled, Sealed: sealed, CreatedAt: now, UpdatedAt: now}
	if err := s.st.CreateConsumer(ctx, c, s.auditFor(ctx, "consumer:"+id)); err != nil {
		return nil, err
	}
	return s.consumerView(c)
}

// GetConsumer returns a consumer with its metadata decrypted.
func (s *Service) GetConsumer(ctx context.Context, id string) (*Consumer, error) {
	if !CheckID(id) {
		return nil, store.ErrNotFound
	}
	c, err := s.st.GetConsumer(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.consumerView(c)
}

// ListConsumers returns one page of consumers in id order and the cursor
// of the next page ("" when this is the last).
func (s *Service) ListConsumers(ctx context.Context, after string, limit int) ([]*Consumer, string, error) {
	rows, err := s.st.ListConsumers(ctx, store.Page{After: after, Limit: limit + 1})
	if err != nil {
		return nil, "", err
	}
	return page(rows, limit, func(c *store.Consumer) string { return c.ID }, s.consumerView)
}

// UpdateConsumer applies patch. Disabling a consumer stops all its keys at
// once (on every instance, through the change feed).
func (s *Service) UpdateConsumer(ctx context.Context, id string, patch ConsumerPatch) (*Consumer, error) {
	cur, err := s.GetConsumer(ctx, id)
	if err != nil {
		return nil, err
	}
	spec := ConsumerSpec{Name: cur.Name, Groups: cur.Groups, Tier: cur.Tier, Labels: cur.Labels,
		Disabled: cur.Disabled, Contact: cur.Contact, Notes: cur.Notes}
	if patch.Name != nil {
		spec.Name = *patch.Name
	}
	if patch.Groups != nil {
		spec.Groups = *patch.Groups
	}
	if patch.Tier != nil {
		spec.Tier = *patch.Tier
	}
	if patch.Labels != nil {
		spec.Labels = *patch.Labels
	}
	if patch.Disabled != nil {
		spec.Disabled = *patch.Disabled
	}
	if patch.Contact != nil {
		spec.Contact = *patch.Contact
	}
	if patch.Notes != nil {
		spec.Notes = *patch.Notes
	}
	if err := spec.check(); err != nil {
		return nil, err
	}
	sealed, err := s.seal("consumer", id, consumerSecrets{Contact: spec.Contact, Notes: spec.Notes})
	if err != nil {
		return nil, err
	}
	c := &store.Consumer{ID: id, Name: spec.Name, Groups: spec.Groups, Tier: spec.Tier, Labels: spec.Labels,
		Disabled: spec.Disabled, Sealed: sealed, CreatedAt: cur.CreatedAt, UpdatedAt: s.clock.Now().UTC()}
	if err := s.st.UpdateConsumer(ctx, c, s.auditFor(ctx, "")); err != nil {
		return nil, err
	}
	return s.consumerView(c)
}

// DeleteConsumer deletes a consumer and revokes all its keys.
func (s *Service) DeleteConsumer(ctx context.Context, id string) error {
	if !CheckID(id) {
		return store.ErrNotFound
	}
	return s.st.DeleteConsumer(ctx, id, s.clock.Now().UTC(), s.auditFor(ctx, ""))
}

func (s *Service) consumerView(c *store.Consumer) (*Consumer, error) {
	v := &Consumer{ID: c.ID, Name: c.Name, Groups: orEmpty(c.Groups), Tier: c.Tier, Labels: orEmptyMap(c.Labels),
		Disabled: c.Disabled, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
	if len(c.Sealed) > 0 {
		var cs consumerSecrets
		if err := s.openSealed(c.Sealed, "consumer", c.ID, &cs); err != nil {
			return nil, fmt.Errorf("reading consumer metadata: %w", err)
		}
		v.Contact, v.Notes = cs.Contact, cs.Notes
	}
	return v, nil
}
