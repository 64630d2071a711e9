package admin

import (
	"net/http"

	"github.com/portcullis/portcullis/internal/keys"
)

func (s *Server) listTokens(c *call) error {
	cursor, limit, err := s.page(c)
	if err != nil {
		return err
	}
	out, next, err := s.keys.ListAdminTokens(c.ctx(), cursor, limit)
	if err != nil {
		return fail(err, "admin token", "")
	}
	return writeJSON(c, http.StatusOK, list[*keys.AdminToken]{Data: out, NextCursor: next})
}

func (s *Server) createToken(c *call) error {
	var spec keys.AdminTokenSpec
	if err := decode(c, &spec, false); err != nil {
		return err
	}
	out, err := s.keys.CreateAdminToken(s.audited(c, http.StatusCreated), spec, c.actor.name)
	if err != nil {
		return fail(err, "admin token", "")
	}
	c.target = "admin_token:" + out.Token.ID
	c.w.Header().Set("Location", "/v1/admin-tokens/"+out.Token.ID)
	return writeJSON(c, http.StatusCreated, out)
}

func (s *Server) getToken(c *call) error {
	out, err := s.keys.GetAdminToken(c.ctx(), c.id)
	if err != nil {
		return fail(err, "admin token", "")
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) revokeToken(c *call) error {
	out, err := s.keys.RevokeAdminToken(s.audited(c, http.StatusOK), c.id)
	if err != nil {
		return fail(err, "admin token", "")
	}
	return writeJSON(c, http.StatusOK, out)
}
