package admin

import (
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
)

func (s *Server) listKeys(c *call) error {
	cursor, limit, err := s.page(c)
	if err != nil {
		return err
	}
	consumer := c.r.URL.Query().Get("consumer_id")
	if consumer != "" && !keys.CheckID(consumer) {
		return invalid([]keys.FieldProblem{{Field: "consumer_id", Message: "must be a consumer id"}})
	}
	out, next, err := s.keys.ListKeys(c.ctx(), consumer, cursor, limit)
	if err != nil {
		return fail(err, "key", "")
	}
	return writeJSON(c, http.StatusOK, list[*keys.Key]{Data: out, NextCursor: next})
}

func (s *Server) issueKey(c *call) error {
	var spec keys.KeySpec
	if err := decode(c, &spec, false); err != nil {
		return err
	}
	if err := s.checkScopes(c, spec.Scopes); err != nil {
		return err
	}
	out, err := s.keys.IssueKey(s.audited(c, http.StatusCreated), spec)
	if err != nil {
		return fail(err, "consumer", "")
	}
	c.target = "key:" + out.Key.ID
	c.w.Header().Set("Location", "/v1/keys/"+out.Key.ID)
	return writeJSON(c, http.StatusCreated, out)
}

func (s *Server) getKey(c *call) error {
	out, err := s.keys.GetKey(c.ctx(), c.id)
	if err != nil {
		return fail(err, "key", "")
	}
	return writeJSON(c, http.StatusOK, out)
}

// rotateRequest is the optional body of a rotation.
type rotateRequest struct {
	// Grace is a duration ("24h", "7d"); default keys.rotation_grace.
	Grace *string `json:"grace"`
	// ExpiresAt replaces the successor's expiry.
	ExpiresAt time.Time `json:"expires_at"`
}

// rotated is a rotation's answer: the successor with its secret, once, and
// the previous key with its grace period.
type rotated struct {
	*keys.Issued
	Previous *keys.Key `json:"previous"`
}

func (s *Server) rotateKey(c *call) error {
	var req rotateRequest
	if err := decode(c, &req, true); err != nil {
		return err
	}
	spec := keys.RotateSpec{ExpiresAt: req.ExpiresAt}
	if req.Grace != nil {
		d, err := config.ParseDuration(*req.Grace)
		if err != nil {
			return invalid([]keys.FieldProblem{{Field: "grace", Message: "must be a duration such as 24h or 7d"}})
		}
		g := d.D()
		spec.Grace = &g
	}
	// The successor carries the old key's scopes: rotating is granting
	// them again, to whoever receives the new secret.
	old, err := s.keys.GetKey(c.ctx(), c.id)
	if err != nil {
		return fail(err, "key", "")
	}
	if err := s.checkScopes(c, old.Scopes); err != nil {
		return err
	}
	out, prev, err := s.keys.RotateKey(s.audited(c, http.StatusCreated), c.id, spec)
	if err != nil {
		return fail(err, "key", "Only an active key can be rotated.")
	}
	c.w.Header().Set("Location", "/v1/keys/"+out.Key.ID)
	return writeJSON(c, http.StatusCreated, rotated{Issued: out, Previous: prev})
}

func (s *Server) revokeKey(c *call) error {
	out, err := s.keys.RevokeKey(s.audited(c, http.StatusOK), c.id)
	if err != nil {
		return fail(err, "key", "")
	}
	return writeJSON(c, http.StatusOK, out)
}
