package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/idempotency"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/problem"
)

// Idempotency keys are looked up and resolved with the key in the JSON
// body (POST), never in the URL, so a key does not end up in URL logs.

// idempotencyRequest names a key; Resolution is only for resolve.
type idempotencyRequest struct {
	idempotency.KeyRef
	idempotency.Resolution
}

func (r *idempotencyRequest) check() error {
	var fields []keys.FieldProblem
	if r.Consumer == "" || len(r.Consumer) > 256 {
		fields = append(fields, keys.FieldProblem{Field: "consumer", Message: "must be the caller's consumer id (1 to 256 characters)"})
	}
	if len(r.Issuer) > 512 {
		fields = append(fields, keys.FieldProblem{Field: "issuer", Message: "must be at most 512 characters"})
	}
	if r.Key == "" || len(r.Key) > 1024 {
		fields = append(fields, keys.FieldProblem{Field: "key", Message: "must be the Idempotency-Key value, unquoted (1 to 1024 characters)"})
	}
	if len(fields) > 0 {
		return invalid(fields)
	}
	return nil
}

// idempotencyTarget names a key in the audit trail by a digest of where
// it is stored, never by its value.
func idempotencyTarget(r idempotency.KeyRef) string {
	k := idempotency.StoreKey(r.Issuer, r.Consumer, r.Key)
	return "idempotency_key:" + k.ID[:16]
}

func (s *Server) idempotencyCall(c *call, resolve bool) (*idempotencyRequest, error) {
	if s.idem == nil {
		return nil, problem.New(http.StatusNotFound, "not-found", "Not Found", "This gateway keeps no idempotency keys.")
	}
	var req idempotencyRequest
	if err := decode(c, &req, false); err != nil {
		return nil, err
	}
	if !resolve && (req.Outcome != "" || req.Response != nil) {
		return nil, invalid([]keys.FieldProblem{{Field: "outcome", Message: "is only for resolve"}})
	}
	if err := req.check(); err != nil {
		return nil, err
	}
	c.target = idempotencyTarget(req.KeyRef)
	return &req, nil
}

func idempotencyFail(err error) error {
	switch {
	case errors.Is(err, idempotency.ErrNoKey):
		return problem.New(http.StatusNotFound, "not-found", "Not Found", "No such idempotency key (never used, resolved, or expired).").WithCause(err)
	case errors.Is(err, idempotency.ErrNotResolvable):
		return problem.New(http.StatusConflict, "conflict", "Conflict",
			"Only a key in doubt, or in flight past its lease, can be resolved.").WithCause(err)
	case errors.Is(err, idempotency.ErrInvalidResolution):
		msg := strings.TrimPrefix(err.Error(), idempotency.ErrInvalidResolution.Error()+": ")
		return invalid([]keys.FieldProblem{{Field: "resolution", Message: msg}})
	}
	return problem.Unavailable("idempotency-unavailable", "The idempotency store cannot be reached; retry shortly.", time.Second, err)
}

func (s *Server) lookupIdempotencyKey(c *call) error {
	req, err := s.idempotencyCall(c, false)
	if err != nil {
		return err
	}
	st, err := s.idem.Inspect(c.ctx(), req.KeyRef)
	if err != nil {
		return idempotencyFail(err)
	}
	return writeJSON(c, http.StatusOK, st)
}

// resolveIdempotencyKey applies an operator's verdict. The change is in
// the shared store, not the database, so it cannot commit with its audit
// event: the event is written first, and nothing changes if it cannot be;
// a change that then fails gets a second event with its failure.
func (s *Server) resolveIdempotencyKey(c *call) error {
	req, err := s.idempotencyCall(c, true)
	if err != nil {
		return err
	}
	ev := c.auditEvent(http.StatusOK)
	if err := s.keys.Audit(context.WithoutCancel(c.ctx()), ev); err != nil {
		return problem.Unavailable("audit-unavailable",
			"The change was not made: the audit trail cannot be written right now.", authRetryAfter, err)
	}
	c.event = ev
	st, err := s.idem.Resolve(c.ctx(), req.KeyRef, req.Resolution)
	if err != nil {
		c.event = nil // finish records the failure too
		return idempotencyFail(err)
	}
	return writeJSON(c, http.StatusOK, st)
}
