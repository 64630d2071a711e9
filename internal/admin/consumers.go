package admin

import (
	"net/http"

	"github.com/portcullis/portcullis/internal/keys"
)

const consumerNameTaken = "A consumer with this name already exists."

func (s *Server) listConsumers(c *call) error {
	cursor, limit, err := s.page(c)
	if err != nil {
		return err
	}
	out, next, err := s.keys.ListConsumers(c.ctx(), cursor, limit)
	if err != nil {
		return fail(err, "consumer", "")
	}
	return writeJSON(c, http.StatusOK, list[*keys.Consumer]{Data: out, NextCursor: next})
}

func (s *Server) createConsumer(c *call) error {
	var spec keys.ConsumerSpec
	if err := decode(c, &spec, false); err != nil {
		return err
	}
	out, err := s.keys.CreateConsumer(s.audited(c, http.StatusCreated), spec)
	if err != nil {
		return fail(err, "consumer", consumerNameTaken)
	}
	c.target = "consumer:" + out.ID
	c.w.Header().Set("Location", "/v1/consumers/"+out.ID)
	return writeJSON(c, http.StatusCreated, out)
}

func (s *Server) getConsumer(c *call) error {
	out, err := s.keys.GetConsumer(c.ctx(), c.id)
	if err != nil {
		return fail(err, "consumer", "")
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) updateConsumer(c *call) error {
	var patch keys.ConsumerPatch
	if err := decode(c, &patch, false); err != nil {
		return err
	}
	out, err := s.keys.UpdateConsumer(s.audited(c, http.StatusOK), c.id, patch)
	if err != nil {
		return fail(err, "consumer", consumerNameTaken)
	}
	return writeJSON(c, http.StatusOK, out)
}

func (s *Server) deleteConsumer(c *call) error {
	if err := s.keys.DeleteConsumer(s.audited(c, http.StatusNoContent), c.id); err != nil {
		return fail(err, "consumer", "")
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) whoami(c *call) error {
	return writeJSON(c, http.StatusOK, map[string]string{"actor": c.actor.name, "role": string(c.actor.role)})
}
