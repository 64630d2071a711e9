package admin

import (
	"net/http"
	"time"
	"unicode"
	"unicode/utf8"

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
	grace, err := parseGrace(req.Grace)
	if err != nil {
		return err
	}
	spec.Grace = grace
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

// revokeRequest is the optional body of a revocation.
type revokeRequest struct {
	// Reason is recorded in the audit event (up to maxReason bytes).
	Reason string `json:"reason"`
}

// maxReason bounds a revocation reason: a sentence, not a document.
const maxReason = 500

// checkReason refuses reasons the audit trail should not hold: too long,
// not UTF-8, or with control characters (line breaks in an exported
// JSON-lines file are escaped, but a terminal showing the trail is not).
func checkReason(r string) error {
	ok := len(r) <= maxReason && utf8.ValidString(r)
	for _, c := range r {
		if unicode.IsControl(c) {
			ok = false
		}
	}
	if !ok {
		return invalid([]keys.FieldProblem{{Field: "reason", Message: "must be at most 500 bytes of UTF-8 text without control characters"}})
	}
	return nil
}

func (s *Server) revokeKey(c *call) error {
	var req revokeRequest
	if err := decode(c, &req, true); err != nil {
		return err
	}
	if err := checkReason(req.Reason); err != nil {
		return err
	}
	ctx := s.audited(c, http.StatusOK)
	c.event.Reason = req.Reason
	out, err := s.keys.RevokeKey(ctx, c.id)
	if err != nil {
		return fail(err, "key", "")
	}
	return writeJSON(c, http.StatusOK, out)
}

// parseGrace reads a rotation's optional grace period (an API key's or a
// signing key's): nil when absent.
func parseGrace(grace *string) (*time.Duration, error) {
	if grace == nil {
		return nil, nil
	}
	d, err := config.ParseDuration(*grace)
	if err != nil {
		return nil, invalid([]keys.FieldProblem{{Field: "grace", Message: "must be a duration such as 24h or 7d"}})
	}
	g := d.D()
	return &g, nil
}
