package keys

import (
	"context"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/store"
)

type auditKey struct{}

// WithAuditEvent asks the Service's next change made with ctx to append e
// in the change's own transaction (store.Audit): the change and its event
// commit together, and if e cannot be written the change fails with an
// error wrapping store.ErrNotAudited and nothing changes. The Service
// stamps e's time if it has none and, for a change that creates something,
// names it as e's target if e has none. Once the change returns, e.Seq is
// non-zero exactly when e is in the trail.
//
// Reads ignore it. Use it for one change per context.
func WithAuditEvent(ctx context.Context, e *audit.Event) context.Context {
	return context.WithValue(ctx, auditKey{}, e)
}

// auditFor is the store.Audit of a change made with ctx (nil when ctx
// carries no event); created names what the change creates ("" for
// none).
func (s *Service) auditFor(ctx context.Context, created string) *store.Audit {
	e, _ := ctx.Value(auditKey{}).(*audit.Event)
	if e == nil {
		return nil
	}
	if e.Time.IsZero() {
		e.Time = s.clock.Now().UTC()
	}
	if e.Target == "" {
		e.Target = created
	}
	return &store.Audit{Event: e, Chain: s.chainer()}
}

// Audit appends an event that records no change (a read, a denied or
// failed attempt) to the audit trail, stamped with the Service's clock when
// it has no time. A change's event goes with the change: WithAuditEvent.
// On success e holds its sequence number and hash.
func (s *Service) Audit(ctx context.Context, e *audit.Event) error {
	if e.Time.IsZero() {
		e.Time = s.clock.Now().UTC()
	}
	return s.st.AppendAudit(ctx, e, s.chainer())
}

// ListAudit returns up to limit events after seq afterSeq.
func (s *Service) ListAudit(ctx context.Context, afterSeq int64, limit int) ([]audit.Event, error) {
	return s.st.ListAudit(ctx, afterSeq, limit)
}

// VerifyAudit checks the whole audit chain, each event under the chain
// key of its pepper version, and returns how many events verified.
func (s *Service) VerifyAudit(ctx context.Context) (int64, error) {
	return audit.VerifyChain(ctx, s.st, s.sec.Peppers.Chainer)
}
