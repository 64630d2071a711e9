package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/bruteforce"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/store"
)

// This file is what a front end on the admin listener (the web console)
// uses: it signs people in with the same token check and failure lockout
// as the API, and runs API operations on their behalf through the same
// router, role check, service calls and audit trail. A console therefore
// cannot do or show anything the API would refuse the same caller.

// Actor is an authenticated admin caller as a front end keeps it.
type Actor struct {
	// Name is what the audit trail records ("token:<id>").
	Name string
	Role Role
	// TokenID is the admin token the actor signed in with.
	TokenID string
}

// Mount serves h for every path under prefix (e.g. "/console/") on the
// admin listener, before the API's own authentication: h does its own.
// Call it before Start.
func (s *Server) Mount(prefix string, h http.Handler) {
	s.mounts = append(s.mounts, mount{prefix: prefix, h: h})
}

type mount struct {
	prefix string
	h      http.Handler
}

func (s *Server) mounted(path string) http.Handler {
	for _, m := range s.mounts {
		if strings.HasPrefix(path, m.prefix) || path == strings.TrimSuffix(m.prefix, "/") {
			return m.h
		}
	}
	return nil
}

// SignIn checks a presented admin token as the API does, with the same
// per-IP failure lockout: a failure counts against ip, a blocked ip is
// refused before the token is looked at. Errors are problem errors (401,
// 429, 503). The sign-in (or its failure) is an audit event with action.
func (s *Server) SignIn(ctx context.Context, ip netip.Addr, token, action string) (*Actor, error) {
	info := &reqinfo.Info{ClientIP: ip}
	if d := s.guard.blocked(ctx, ip); d > 0 {
		s.log.Warn("admin sign-in refused: client ip blocked", "client_ip", ip.String(), "action", action)
		return nil, bruteforce.Blocked(d, "client ip (admin API)")
	}
	id, err := s.keys.VerifyAdminToken(ctx, token)
	if err != nil {
		var rej *keys.Rejection
		if errors.As(err, &rej) {
			info.ID = "signin"
			s.authFailed(ctx, info)
			s.log.Info("admin sign-in failed", "client_ip", ip.String(), "action", action,
				"auth_failure", rej.Reason, "credential_hint", rej.KeyID)
			return nil, problem.New(http.StatusUnauthorized, "unauthenticated", "Unauthorized", "The admin token is invalid.")
		}
		return nil, problem.Unavailable("auth-unavailable", "The admin API cannot verify credentials right now.", authRetryAfter, err)
	}
	a := &Actor{Name: "token:" + id.TokenID, Role: Role(id.Role), TokenID: id.TokenID}
	s.record(ctx, a, ip, action, http.StatusOK)
	return a, nil
}

// CertSignIn signs in the caller of r if its TLS connection presents a
// verified client certificate that admin.client_certs maps to a role: the
// mapping the API itself authenticates certificates by. It returns nil
// otherwise. The sign-in is an audit event with action; the actor has no
// TokenID.
func (s *Server) CertSignIn(r *http.Request, ip netip.Addr, action string) *Actor {
	c := s.certActor(r)
	if c == nil {
		return nil
	}
	a := &Actor{Name: c.name, Role: c.role}
	s.record(r.Context(), a, ip, action, http.StatusOK)
	return a
}

// CertPresented reports whether r's connection presents a client
// certificate that admin.client_certs maps to a role.
func (s *Server) CertPresented(r *http.Request) bool { return s.certActor(r) != nil }

// RecheckCert confirms a certificate-signed-in actor still is what r's
// connection presents, mapped to the same role: a session does not outlive
// its certificate on the connection, nor a change of admin.client_certs.
func (s *Server) RecheckCert(r *http.Request, a *Actor) error {
	if c := s.certActor(r); c == nil || a.TokenID != "" || c.name != a.Name || c.role != a.Role {
		return ErrSessionStale
	}
	return nil
}

// record writes an audit event for something a front end did that is not
// an API operation (signing in and out).
func (s *Server) record(ctx context.Context, a *Actor, ip netip.Addr, action string, status int) {
	target := a.Name // a certificate: its mapping names it
	if a.TokenID != "" {
		target = "admin_token:" + a.TokenID
	}
	e := &audit.Event{Actor: a.Name, Role: string(a.Role), Action: action, Target: target,
		SourceIP: ip.String(), Outcome: outcome(status), Status: status}
	if err := s.keys.Audit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("writing the audit event failed", "action", action, "error", err.Error())
	}
}

// Record writes the audit event of a front-end action such as signing out.
func (s *Server) Record(ctx context.Context, a *Actor, ip netip.Addr, action string) {
	s.record(ctx, a, ip, action, http.StatusOK)
}

// ErrSessionStale is Recheck's answer when a signed-in actor's token was
// revoked, expired, removed, or its role changed.
var ErrSessionStale = errors.New("admin token no longer valid for this session")

// Recheck confirms a signed-in actor's token is still what it was at sign
// in: present, unrevoked, unexpired and of the same role. Front ends call
// it on every request, so revoking a token ends its sessions at once.
func (s *Server) Recheck(ctx context.Context, a *Actor, now time.Time) error {
	if a.TokenID == "" {
		return ErrSessionStale // a certificate actor: RecheckCert
	}
	t, err := s.keys.GetAdminToken(ctx, a.TokenID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrSessionStale
	case err != nil:
		return err
	case !t.RevokedAt.IsZero(), !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt), Role(t.Role) != a.Role:
		return ErrSessionStale
	}
	return nil
}

// Allows reports whether role may run the API operation named action
// (e.g. "key.revoke"): front ends hide what it does not allow.
func (s *Server) Allows(role Role, action string) bool {
	for i := range s.router.routes {
		if s.router.routes[i].action == action {
			return s.router.routes[i].allows(role)
		}
	}
	return false
}

// Invoke runs one API operation (method, path with query, JSON body or
// nil) as a, from remoteAddr, exactly as if a had called the API: same
// router, role check, handler and audit event. It returns the status and
// the response body (JSON or problem+json).
func (s *Server) Invoke(ctx context.Context, a *Actor, remoteAddr, method, target string, body any) (int, []byte) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return http.StatusInternalServerError, nil
		}
		rd = bytes.NewReader(b)
	}
	r, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return http.StatusBadRequest, nil
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.RemoteAddr = remoteAddr
	w := &bufferWriter{h: http.Header{}}
	s.handle(w, r, &actor{name: a.Name, role: a.Role})
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.status, w.buf.Bytes()
}

// bufferWriter collects an invoked operation's answer.
type bufferWriter struct {
	h      http.Header
	status int
	buf    bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.h }
func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.buf.Write(p)
}
