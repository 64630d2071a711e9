package admin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/bruteforce"
	"github.com/portcullis/portcullis/internal/clientip"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/requestid"
	"github.com/portcullis/portcullis/internal/secevent"
	"github.com/portcullis/portcullis/internal/store"
)

// maxBody bounds request bodies: admin requests are small.
const maxBody = 64 << 10

// defaultPageSize is the page size when a list does not ask for one.
const defaultPageSize = 50

// call is one admin request on its way through the handler.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	info  *reqinfo.Info
	route *route
	id    string
	actor *actor
	// target is what the audit event names; handlers that create set it.
	target string
	// event is the audit event of a change, written with the change
	// (audited); nil for reads.
	event *audit.Event
	// refusedScopes are the scopes a refused issue or rotation asked for
	// beyond the caller's ceiling (for the log line).
	refusedScopes []string
}

func (c *call) ctx() context.Context { return c.r.Context() }

// statusRecorder remembers the status written, for the audit outcome.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// ServeHTTP authenticates, routes, authorises, runs the operation, writes
// errors as problem+json, and records the audit event.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The CLI tells "this is not the admin API" (the public gateway port,
	// say) from this header's absence, whatever the status.
	w.Header().Set(AdminHeader, "1")
	if h := s.mounted(r.URL.Path); h != nil {
		w.Header().Set("Strict-Transport-Security", hsts)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
		return
	}
	s.handle(w, r, nil)
}

// handle serves one API request; preset is the caller when a front end
// already authenticated it (Invoke), nil to authenticate the request.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, preset *actor) {
	info := &reqinfo.Info{ID: requestid.FromRequest(r, false), Start: time.Now(), ClientIP: clientip.Peer(r.RemoteAddr), Method: r.Method}
	ctx := r.Context()
	if s.security != nil {
		ctx = secevent.With(ctx, s.security)
	}
	r = r.WithContext(reqinfo.With(ctx, info))
	h := w.Header()
	h.Set(requestid.Header, info.ID)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Strict-Transport-Security", hsts)
	rec := &statusRecorder{ResponseWriter: w}
	c := &call{w: rec, r: r, info: info, actor: preset}
	err := s.serve(c)
	if err != nil {
		if rec.status == 0 {
			problem.Write(rec, r, err)
		} else if info.Err == nil {
			info.Err = err
		}
	}
	s.finish(c, rec.status, err)
}

func (s *Server) serve(c *call) error {
	// Authenticate before routing, so unauthenticated callers learn
	// nothing about which paths exist.
	act := c.actor
	if act == nil {
		var err error
		if act, err = s.authenticate(c.r); err != nil {
			return err
		}
		c.actor = act
	}
	rt, id, allow := s.router.match(c.r.Method, c.r.URL.Path)
	switch {
	case rt == nil && allow != "":
		return problem.MethodNotAllowed(allow)
	case rt == nil:
		return problem.New(http.StatusNotFound, "not-found", "Not Found", "No admin API operation at this path.")
	}
	c.route, c.id = rt, id
	if rt.target != "" {
		c.target = rt.target + ":" + safeID(id)
	}
	if !rt.allows(act.role) {
		return problem.New(http.StatusForbidden, "forbidden", "Forbidden",
			"Your role does not allow this operation.")
	}
	return rt.h(c)
}

// safeID keeps a path id in the audit trail only if it has the shape of
// an id, so clients cannot write arbitrary text there.
func safeID(id string) string {
	if keys.CheckID(id) {
		return id
	}
	return "(invalid id)"
}

// audited returns the context for a change that answers status when it
// succeeds: the change's audit event rides along and commits in the same
// transaction (keys.WithAuditEvent), so a change is never made without its
// event, and finish does not write it again.
func (s *Server) audited(c *call, status int) context.Context {
	c.event = c.auditEvent(status)
	return keys.WithAuditEvent(c.ctx(), c.event)
}

// auditEvent is the event of c answered with status.
func (c *call) auditEvent(status int) *audit.Event {
	action := "unknown"
	if c.route != nil {
		action = c.route.action
	}
	return &audit.Event{Actor: c.actor.name, Role: string(c.actor.role), Action: action, Target: c.target,
		SourceIP: c.info.ClientIP.String(), Outcome: outcome(status), Status: status}
}

// finish writes the audit event (for authenticated requests whose change,
// if any, did not already write it) and the log line.
func (s *Server) finish(c *call, status int, err error) {
	if status == 0 {
		status = http.StatusOK
	}
	s.securityEvent(c, status)
	if err != nil {
		if pe := problem.From(err); pe.Status >= 500 {
			s.log.Error("admin request failed", "request_id", c.info.ID, "error", err.Error())
		}
	}
	actorName, role, action := "", "", ""
	if c.actor != nil {
		actorName, role = c.actor.name, string(c.actor.role)
	}
	if c.route != nil {
		action = c.route.action
	}
	if c.actor != nil && action == "" {
		action = "unknown"
	}
	// A change that committed wrote its event with it (Seq is set).
	written := c.event
	if c.actor != nil && (written == nil || written.Seq == 0) {
		written = c.auditEvent(status)
		// The request context may be gone (client left); the event is not.
		if aerr := s.keys.Audit(context.WithoutCancel(c.ctx()), written); aerr != nil {
			s.log.Error("writing the audit event failed", "request_id", c.info.ID, "action", action, "error", aerr.Error())
		}
	}
	attrs := []any{"request_id", c.info.ID, "method", clip(c.r.Method), "path", clip(c.r.URL.Path), "status", status,
		"duration_ms", float64(time.Since(c.info.Start).Microseconds()) / 1000, "client_ip", c.info.ClientIP.String()}
	if c.actor != nil {
		attrs = append(attrs, "actor", actorName, "role", role, "action", action)
	}
	if written != nil && written.Seq > 0 {
		// The chain head, in logs shipped elsewhere: an outside anchor
		// that shows if the newest events are later deleted.
		attrs = append(attrs, "audit_seq", written.Seq, "audit_hash", hex.EncodeToString(written.Hash))
	}
	if c.info.AuthFailure != "" {
		attrs = append(attrs, "auth_failure", c.info.AuthFailure)
	}
	if c.info.CredentialHint != "" {
		attrs = append(attrs, "credential_hint", c.info.CredentialHint)
	}
	if len(c.refusedScopes) > 0 {
		attrs = append(attrs, "refused_scopes", c.refusedScopes)
	}
	s.log.Info("admin request", attrs...)
}

func clip(s string) string { return observe.Clip(s, 256) }

func outcome(status int) string {
	switch {
	case status == http.StatusForbidden:
		return audit.OutcomeDenied
	case status >= 500:
		return audit.OutcomeError
	case status >= 400:
		return audit.OutcomeRejected
	}
	return audit.OutcomeSuccess
}

// ---- errors

// fail turns a service error into the client's problem. what names the
// resource for 404s; conflict is the fixed text for 409s.
func fail(err error, what, conflict string) error {
	var inv *keys.InvalidError
	switch {
	case errors.As(err, &inv):
		return invalid(inv.Fields)
	case errors.Is(err, store.ErrNotFound):
		return problem.New(http.StatusNotFound, "not-found", "Not Found", "No such "+what+".").WithCause(err)
	case errors.Is(err, store.ErrConflict):
		return problem.New(http.StatusConflict, "conflict", "Conflict", conflict).WithCause(err)
	case errors.Is(err, store.ErrNotAudited):
		return problem.Unavailable("audit-unavailable",
			"The change was not made: the audit trail cannot be written right now.", authRetryAfter, err)
	case keys.IsMissingVersion(err):
		// Another instance can serve it: this one was not restarted with
		// a master key or pepper version the data is under.
		return problem.Unavailable("key-version-unavailable",
			"This gateway instance does not hold the master key or pepper version this data was written with; another instance may.",
			authRetryAfter, err)
	}
	return problem.Internal(err)
}

// authRetryAfter is the Retry-After of the admin API's 503s.
const authRetryAfter = 5 * time.Second

func invalid(fields []keys.FieldProblem) *problem.Error {
	pe := problem.BadRequest("invalid-request", "The request has invalid fields.")
	pe.Extensions = map[string]any{"errors": fields}
	return pe
}

// ---- request and response bodies

// decode reads a JSON body into v: application/json only, bounded, no
// unknown fields, one value. optional lets an empty body through.
func decode(c *call, v any, optional bool) error {
	if optional && c.r.ContentLength == 0 && c.r.Header.Get("Content-Type") == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(c.r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported Media Type",
			"Send the request body as application/json.")
	}
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return problem.PayloadTooLarge(maxBody).WithCause(err)
		}
		if optional && errors.Is(err, io.EOF) {
			return nil
		}
		return problem.BadRequest("invalid-json", "The body is not valid JSON for this operation (unknown fields are rejected).").WithCause(err)
	}
	if dec.More() {
		return problem.BadRequest("invalid-json", "The body must hold exactly one JSON value.")
	}
	return nil
}

func writeJSON(c *call, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return problem.Internal(err)
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(status)
	_, _ = c.w.Write(append(b, '\n'))
	return nil
}

// list is a page of a collection.
type list[T any] struct {
	Data []T `json:"data"`
	// NextCursor fetches the next page ("" on the last).
	NextCursor string `json:"next_cursor,omitempty"`
}

// page reads ?limit= and ?cursor= (an id).
func (s *Server) page(c *call) (cursor string, limit int, err error) {
	q := c.r.URL.Query()
	limit = defaultPageSize
	var fields []keys.FieldProblem
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s.cfg.MaxPageSize {
			fields = append(fields, keys.FieldProblem{Field: "limit", Message: "must be between 1 and " + strconv.Itoa(s.cfg.MaxPageSize)})
		} else {
			limit = n
		}
	}
	cursor = q.Get("cursor")
	if cursor != "" && !keys.CheckID(cursor) {
		fields = append(fields, keys.FieldProblem{Field: "cursor", Message: "must be a next_cursor value"})
	}
	if len(fields) > 0 {
		return "", 0, invalid(fields)
	}
	return cursor, min(limit, s.cfg.MaxPageSize), nil
}

// ---- authentication

// actor is an authenticated admin caller.
type actor struct {
	name string // "token:<id>" or "cert:<subject>"
	role Role
}

var adminChallenge = authn.Challenge{Scheme: "Bearer", Params: [][2]string{{"realm", "portcullis-admin"}}}

func (s *Server) authenticate(r *http.Request) (*actor, error) {
	if a := s.certActor(r); a != nil {
		return a, nil
	}
	info := reqinfo.From(r.Context())
	if d := s.guard.blocked(r.Context(), info.ClientIP); d > 0 {
		info.AuthFailure = "client ip blocked after failed admin authentications"
		return nil, bruteforce.Blocked(d, "client ip (admin API)")
	}
	tok, err := authn.BearerToken(r, keys.MaxTokenLen+16)
	if err != nil {
		var ue *authn.Unauthenticated
		if errors.As(err, &ue) {
			info.AuthFailure = ue.Reason
			s.authFailed(r.Context(), info)
			return nil, authn.Unauthorized(adminChallenge, ue)
		}
		info.AuthFailure = "no credential"
		pe := problem.New(http.StatusUnauthorized, "unauthenticated", "Unauthorized",
			"The admin API needs an admin token or a client certificate.")
		return nil, pe.WithHeader("Www-Authenticate", adminChallenge.String())
	}
	id, err := s.keys.VerifyAdminToken(r.Context(), tok)
	if err != nil {
		var rej *keys.Rejection
		if errors.As(err, &rej) {
			info.AuthFailure, info.CredentialHint = rej.Reason, rej.KeyID
			s.authFailed(r.Context(), info)
			return nil, authn.Unauthorized(adminChallenge, authn.Reject(rej.Reason, "The admin token is invalid."))
		}
		return nil, problem.Unavailable("auth-unavailable", "The admin API cannot verify credentials right now.", authRetryAfter, err)
	}
	return &actor{name: "token:" + id.TokenID, role: Role(id.Role)}, nil
}

// authFailed counts a failed token attempt against the client IP and logs
// a block it earns.
func (s *Server) authFailed(ctx context.Context, info *reqinfo.Info) {
	if d := s.guard.failed(ctx, info.ClientIP); d > 0 {
		s.log.Warn("admin API: client ip blocked after failed authentications", "client_ip", info.ClientIP.String(),
			"block", d.String(), "request_id", info.ID)
	}
}

// certActor maps a verified client certificate to a configured role.
func (s *Server) certActor(r *http.Request) *actor {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	leaf := r.TLS.VerifiedChains[0][0]
	for _, m := range s.certMap {
		switch {
		case m.CommonName != "" && leaf.Subject.CommonName == m.CommonName:
			return &actor{name: "cert:cn=" + m.CommonName, role: Role(m.Role)}
		case m.URI != "":
			for _, u := range leaf.URIs {
				if u.String() == m.URI {
					return &actor{name: "cert:uri=" + m.URI, role: Role(m.Role)}
				}
			}
		}
	}
	return nil
}
