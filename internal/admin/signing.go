package admin

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/keys"
)

// Message-signing keys and identity mappings of consumers.

func (s *Server) listSigningKeys(c *call) error {
	cursor, limit, err := s.page(c)
	if err != nil {
		return err
	}
	out, next, err := s.keys.ListSigningKeys(c.ctx(), c.id, cursor, limit)
	if err != nil {
		return fail(err, "consumer", "")
	}
	return writeJSON(c, http.StatusOK, list[*keys.SigningKey]{Data: out, NextCursor: next})
}

func (s *Server) addSigningKey(c *call) error {
	var spec keys.SigningKeySpec
	if err := decode(c, &spec, false); err != nil {
		return err
	}
	spec.ConsumerID = c.id
	c.target = ""
	out, err := s.keys.AddSigningKey(s.audited(c, http.StatusCreated), spec)
	if err != nil {
		c.target = "consumer:" + safeID(c.id)
		return fail(err, "consumer", "This consumer already has (or had) a signing key with this key_id: key ids are never reused.")
	}
	c.target = "signing_key:" + out.ID
	c.w.Header().Set("Location", "/v1/signing-keys/"+out.ID)
	return writeJSON(c, http.StatusCreated, out)
}

func (s *Server) getSigningKey(c *call) error {
	out, err := s.keys.GetSigningKey(c.ctx(), c.id)
	if err != nil {
		return fail(err, "signing key", "")
	}
	return writeJSON(c, http.StatusOK, out)
}

// signingRotateRequest is the body of a signing key rotation.
type signingRotateRequest struct {
	KeyID     string          `json:"key_id"`
	PublicKey json.RawMessage `json:"public_key"`
	ExpiresAt time.Time       `json:"expires_at"`
	// Grace is a duration ("24h", "7d"); default keys.rotation_grace.
	Grace *string `json:"grace"`
}

// signingRotated is a rotation's answer: the new key and the previous one
// with its grace period.
type signingRotated struct {
	*keys.SigningKey
	Previous *keys.SigningKey `json:"previous"`
}

func (s *Server) rotateSigningKey(c *call) error {
	var req signingRotateRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	spec := keys.SigningRotateSpec{KeyID: req.KeyID, PublicKey: req.PublicKey, ExpiresAt: req.ExpiresAt}
	grace, err := parseGrace(req.Grace)
	if err != nil {
		return err
	}
	spec.Grace = grace
	out, prev, err := s.keys.RotateSigningKey(s.audited(c, http.StatusCreated), c.id, spec)
	if err != nil {
		return fail(err, "signing key", "Only an active signing key can be rotated, and a key_id is never reused.")
	}
	c.w.Header().Set("Location", "/v1/signing-keys/"+out.ID)
	return writeJSON(c, http.StatusCreated, signingRotated{SigningKey: out, Previous: prev})
}

func (s *Server) revokeSigningKey(c *call) error {
	out, err := s.keys.RevokeSigningKey(s.audited(c, http.StatusOK), c.id)
	if err != nil {
		return fail(err, "signing key", "")
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) listIdentities(c *call) error {
	cursor, limit, err := s.page(c)
	if err != nil {
		return err
	}
	out, next, err := s.keys.ListIdentities(c.ctx(), c.id, cursor, limit)
	if err != nil {
		return fail(err, "consumer", "")
	}
	return writeJSON(c, http.StatusOK, list[*keys.Identity]{Data: out, NextCursor: next})
}

func (s *Server) createIdentity(c *call) error {
	var spec keys.IdentitySpec
	if err := decode(c, &spec, false); err != nil {
		return err
	}
	spec.ConsumerID = c.id
	c.target = ""
	out, err := s.keys.CreateIdentity(s.audited(c, http.StatusCreated), spec)
	if err != nil {
		c.target = "consumer:" + safeID(c.id)
		return fail(err, "consumer", "This issuer's client is mapped to a consumer already.")
	}
	c.target = "identity:" + out.ID
	c.w.Header().Set("Location", "/v1/identities/"+out.ID)
	return writeJSON(c, http.StatusCreated, out)
}

func (s *Server) deleteIdentity(c *call) error {
	if err := s.keys.DeleteIdentity(s.audited(c, http.StatusNoContent), c.id); err != nil {
		return fail(err, "identity", "")
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}
