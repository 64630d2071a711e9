package keys

import (
	"context"

	"github.com/portcullis/portcullis/internal/audit"
)

// Audit appends an event to the audit trail, stamped with the Service's
// clock when it has no time.
func (s *Service) Audit(ctx context.Context, e audit.Event) error {
	if e.Time.IsZero() {
		e.Time = s.clock.Now().UTC()
	}
	return s.st.AppendAudit(ctx, &e, s.sec.Chainer)
}

// ListAudit returns up to limit events after seq afterSeq.
func (s *Service) ListAudit(ctx context.Context, afterSeq int64, limit int) ([]audit.Event, error) {
	return s.st.ListAudit(ctx, afterSeq, limit)
}

// VerifyAudit checks the whole audit chain and returns how many events
// verified.
func (s *Service) VerifyAudit(ctx context.Context) (int64, error) {
	return s.sec.Chainer.Verify(ctx, s.st)
}
