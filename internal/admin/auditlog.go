package admin

import (
	"encoding/hex"
	"net/http"
	"strconv"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/keys"
)

func (s *Server) listAudit(c *call) error {
	q := c.r.URL.Query()
	limit := defaultPageSize
	var after int64
	var fields []keys.FieldProblem
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s.cfg.MaxPageSize {
			fields = append(fields, keys.FieldProblem{Field: "limit", Message: "must be between 1 and " + strconv.Itoa(s.cfg.MaxPageSize)})
		}
		limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			fields = append(fields, keys.FieldProblem{Field: "cursor", Message: "must be a next_cursor value"})
		}
		after = n
	}
	if len(fields) > 0 {
		return invalid(fields)
	}
	evs, err := s.keys.ListAudit(c.ctx(), after, limit+1)
	if err != nil {
		return fail(err, "event", "")
	}
	out := list[audit.Event]{Data: evs}
	if len(evs) > limit {
		out.Data = evs[:limit]
		out.NextCursor = strconv.FormatInt(evs[limit-1].Seq, 10)
	}
	if out.Data == nil {
		out.Data = []audit.Event{}
	}
	return writeJSON(c, http.StatusOK, out)
}

// verification is the answer of GET /v1/audit/verify.
type verification struct {
	OK       bool  `json:"ok"`
	Verified int64 `json:"events_verified"`
	// HeadHash is the hash of the last verified event (hex), to compare
	// with the audit_hash of the newest admin request line in shipped logs.
	HeadHash string `json:"head_hash,omitempty"`
	Problem  string `json:"problem,omitempty"`
}

func (s *Server) verifyAudit(c *call) error {
	n, err := s.keys.VerifyAudit(c.ctx())
	if err != nil {
		if !isTampered(err) {
			return fail(err, "event", "")
		}
		s.log.Error("audit chain does not verify", "request_id", c.info.ID, "error", err.Error())
		// Auditors need to know where: the message is the chain's own
		// finding (sequence numbers), not an internal error.
		return writeJSON(c, http.StatusOK, verification{OK: false, Verified: n, Problem: err.Error()})
	}
	v := verification{OK: true, Verified: n}
	if n > 0 {
		head, err := s.keys.ListAudit(c.ctx(), n-1, 1)
		if err != nil {
			return fail(err, "event", "")
		}
		if len(head) == 1 {
			v.HeadHash = hex.EncodeToString(head[0].Hash)
		}
	}
	return writeJSON(c, http.StatusOK, v)
}
