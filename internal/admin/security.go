package admin

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/secmon"
)

// The security operations: the blocks detectors imposed (shared by every
// instance), lifting one, and this instance's recent security events.

func (s *Server) listBlocks(c *call) error {
	out := []secmon.Block{}
	if s.security != nil {
		out = append(out, s.security.Blocks(c.ctx())...)
	}
	return writeJSON(c, http.StatusOK, list[secmon.Block]{Data: out})
}

// liftBlock audits the lift before making it, so a lift is never made
// without its event: if the trail cannot be written, nothing is lifted.
// An optional {"reason": ...} body is kept in that event, as a key
// revocation's is.
func (s *Server) liftBlock(c *call) error {
	var req revokeRequest
	if err := decode(c, &req, true); err != nil {
		return err
	}
	if err := checkReason(req.Reason); err != nil {
		return err
	}
	if s.security == nil || !keys.CheckID(c.id) {
		return problem.New(http.StatusNotFound, "not-found", "Not Found", "No such block in force.")
	}
	if _, ok := s.security.Block(c.ctx(), c.id); !ok {
		return problem.New(http.StatusNotFound, "not-found", "Not Found", "No such block in force.")
	}
	c.event = c.auditEvent(http.StatusNoContent)
	c.event.Time = time.Now().UTC()
	c.event.Reason = req.Reason
	if err := s.keys.Audit(context.WithoutCancel(c.ctx()), c.event); err != nil {
		c.event = nil
		return problem.Unavailable("audit-unavailable",
			"The change was not made: the audit trail cannot be written right now.", time.Second, err)
	}
	if _, err := s.security.Lift(c.ctx(), c.id, c.actor.name, c.info.ClientIP); err != nil {
		if errors.Is(err, secmon.ErrNoBlock) {
			// Lifted or expired between the check and now: done anyway.
			c.w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return problem.Unavailable("block-store-unavailable", "The block store cannot be reached right now.", time.Second, err)
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listSecurityEvents(c *call) error {
	q := c.r.URL.Query()
	f := secmon.Filter{Limit: 100, Consumer: q.Get("consumer"), Route: q.Get("route"), Detector: q.Get("detector")}
	var fields []keys.FieldProblem
	bad := func(field, msg string) { fields = append(fields, keys.FieldProblem{Field: field, Message: msg}) }
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s.cfg.MaxPageSize {
			bad("limit", "must be between 1 and "+strconv.Itoa(s.cfg.MaxPageSize))
		}
		f.Limit = n
	}
	if v := q.Get("type"); v != "" {
		if !secevent.Known(secevent.Type(v)) {
			bad("type", "must be a security event type")
		}
		f.Type = secevent.Type(v)
	}
	if v := q.Get("client_ip"); v != "" {
		a, err := netip.ParseAddr(v)
		if err != nil {
			bad("client_ip", "must be an IP address")
		}
		f.ClientIP = a.Unmap()
	}
	for _, t := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			tm, err := time.Parse(time.RFC3339, v)
			if err != nil {
				bad(t.name, "must be an RFC 3339 time")
			}
			*t.to = tm
		}
	}
	for _, p := range []struct{ name, v string }{{"consumer", f.Consumer}, {"route", f.Route}, {"detector", f.Detector}} {
		if len(p.v) > 256 {
			bad(p.name, "must be at most 256 characters")
		}
	}
	if len(fields) > 0 {
		return invalid(fields)
	}
	out := []secmon.EventView{}
	if s.security != nil {
		out = s.security.Events(f)
	}
	return writeJSON(c, http.StatusOK, list[secmon.EventView]{Data: out})
}

// securityEvent reports an admin request's security-relevant outcome:
// a refused credential, or a change to consumers, keys or admin tokens.
func (s *Server) securityEvent(c *call, status int) {
	if s.security == nil {
		return
	}
	switch {
	case c.actor == nil && (status == http.StatusUnauthorized || status == http.StatusTooManyRequests):
		secevent.Emit(c.ctx(), secevent.Event{Type: secevent.AdminAuthFailure, Status: status, Reason: c.info.AuthFailure,
			Route: "admin", Credential: c.info.CredentialHint})
	case c.actor != nil && c.route != nil && c.route.method != http.MethodGet && status < 300 && isKeyChange(c.route.action):
		secevent.Emit(c.ctx(), secevent.Event{Type: secevent.KeyLifecycle, Status: status, Reason: c.route.action,
			Route: "admin", Actor: c.actor.name, Subject: c.target})
	}
}

func isKeyChange(action string) bool {
	for _, p := range []string{"consumer.", "key.", "admin_token."} {
		if len(action) > len(p) && action[:len(p)] == p {
			return true
		}
	}
	return false
}
