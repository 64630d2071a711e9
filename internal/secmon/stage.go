package secmon

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/secevent"
)

// Problem types of requests refused by an automatic response.
const (
	// TypeBlocked: the client IP, consumer or credential is blocked after
	// a detection (403, Retry-After).
	TypeBlocked = "security-blocked"
	// TypeReadOnly: the consumer or credential may only make safe requests
	// for now (403, Retry-After).
	TypeReadOnly = "read-only"
)

// Stage enforces the monitor's responses on a route and reports its
// authentication outcomes as events. In the Admit phase it refuses a
// blocked client IP before anything else is spent on it; as an
// AuthObserver it emits every authentication failure (with the reason and
// the presented credential's id) and refuses a blocked consumer or
// credential, or a non-safe method under read_only, once the caller is
// known. A blocked credential is refused whether its secret was right or
// not, so the answer never tells a guesser which it was.
type Stage struct{ m *Monitor }

var _ pipeline.AuthObserver = (*Stage)(nil)

// Stage returns a route's stage (nil for a nil monitor).
func (m *Monitor) Stage() *Stage {
	if m == nil {
		return nil
	}
	return &Stage{m: m}
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "security" }

// ReportsRefusals implements secevent.Reporter (Blocked).
func (s *Stage) ReportsRefusals() {}

// Phase implements pipeline.Stage.
func (s *Stage) Phase() pipeline.Phase { return pipeline.Admit }

// Handle refuses a blocked client IP.
func (s *Stage) Handle(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.m.CheckIP(r.Context()); err != nil {
			return err
		}
		return next.ServeHTTP(w, r)
	})
}

// CheckIP returns the refusal of a request whose client IP is blocked
// (nil otherwise). The runtime also asks it for requests no route
// matched, so a blocked scanner gets the same answer on every path.
func (m *Monitor) CheckIP(ctx context.Context) error {
	if m == nil || m.blocks.empty() {
		return nil
	}
	info := reqinfo.From(ctx)
	if b := m.blocks.forIP(info.ClientIP, m.now()); b != nil {
		return m.refuse(ctx, b)
	}
	return nil
}

// AuthFailed emits the failure; a blocked credential stays refused.
func (s *Stage) AuthFailed(ctx context.Context) error {
	info := reqinfo.From(ctx)
	secevent.Emit(ctx, secevent.Event{Type: secevent.AuthFailure, Status: http.StatusUnauthorized, Reason: info.AuthFailure})
	if s.m.blocks.empty() {
		return nil
	}
	if b := s.m.blocks.forCredential(info.CredentialHint, s.m.now()); b != nil {
		return s.m.refuse(ctx, b)
	}
	return nil
}

// Authenticated refuses a blocked consumer or credential, and non-safe
// methods under read_only.
func (s *Stage) Authenticated(ctx context.Context) error {
	if s.m.blocks.empty() {
		return nil
	}
	info := reqinfo.From(ctx)
	p := info.Principal
	if p == nil {
		return nil
	}
	now := s.m.now()
	b := s.m.blocks.forCredential(p.CredentialID, now)
	if c := s.m.blocks.forConsumer(p.ConsumerID, now); c != nil && (b == nil || stronger(c, b)) {
		b = c
	}
	if b == nil || b.Mode == ModeReadOnly && safeMethod(info.Method) {
		return nil
	}
	return s.m.refuse(ctx, b)
}

// safeMethod: RFC 9110 §9.2.1.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == "TRACE"
}

// refuse counts, emits and answers a request refused by b.
func (m *Monitor) refuse(ctx context.Context, b *Block) error {
	m.metrics.rejected.WithLabelValues(b.Kind, b.Mode).Inc()
	secevent.Emit(ctx, secevent.Event{Type: secevent.Blocked, Status: http.StatusForbidden, Detector: b.Detector,
		Action: b.Mode, Subject: b.subject(), BlockID: b.ID, Until: b.Until, Reason: b.Kind + " " + b.Mode})
	return Refusal(b, m.now())
}

// Refusal is the 403 of a request refused by b at now. The body says that
// an automatic response is in force and for how long; which rule and
// subject are in the log and the admin API, not in the answer.
func Refusal(b *Block, now time.Time) *problem.Error {
	secs := int64((b.Until.Sub(now) + time.Second - 1) / time.Second)
	var pe *problem.Error
	if b.Mode == ModeReadOnly {
		pe = problem.New(http.StatusForbidden, TypeReadOnly, "Forbidden",
			"Only safe (read) requests are allowed for this caller for now, after suspicious activity.")
	} else {
		pe = problem.New(http.StatusForbidden, TypeBlocked, "Forbidden",
			"Requests from this source are blocked after suspicious activity; try again later.")
	}
	pe.Cause = fmt.Errorf("security block %s (%s %s by %s)", b.ID, b.Kind, b.Mode, b.Detector)
	return pe.WithHeader("Retry-After", strconv.FormatInt(max(secs, 1), 10))
}
