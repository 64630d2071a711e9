package gateway

import (
	"errors"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/secevent"
)

// reportRefusals wraps every stage that does not report its own refusals
// (secevent.Reporter) so that a 4xx problem the stage itself returns is
// emitted as one security event: RequestRefused (FAPI, message
// signatures, idempotency, body limits, and any stage added later), or
// the type the stage declares (secevent.Classifier: validation). This is
// the one choke point, so a new stage's refusals cannot go unreported.
// Errors that come back from further down the chain (later stages, the
// upstream) are told apart by a marker and passed through untouched.
func reportRefusals(stages []pipeline.Stage) []pipeline.Stage {
	out := make([]pipeline.Stage, len(stages))
	for i, s := range stages {
		if _, self := s.(secevent.Reporter); self {
			out[i] = s
			continue
		}
		out[i] = refusalReporting{s}
	}
	return out
}

// refusalReporting wraps only the request path: buildChain collects the
// optional roles (response, body, observer, outbound) from the unwrapped
// stages, and wraps them only for Compose.
type refusalReporting struct{ pipeline.Stage }

// fromDownstream marks an error that a later stage or the upstream
// returned, so the wrapper does not report it as this stage's refusal.
type fromDownstream struct{ err error }

func (d fromDownstream) Error() string { return d.err.Error() }
func (d fromDownstream) Unwrap() error { return d.err }

func (s refusalReporting) Handle(next pipeline.Handler) pipeline.Handler {
	marked := pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := next.ServeHTTP(w, r); err != nil {
			return fromDownstream{err}
		}
		return nil
	})
	inner := s.Stage.Handle(marked)
	typ := secevent.RequestRefused
	if c, ok := s.Stage.(secevent.Classifier); ok {
		typ = c.RefusalType()
	}
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		err := inner.ServeHTTP(w, r)
		if err == nil {
			return nil
		}
		if d, ok := err.(fromDownstream); ok {
			return d.err
		}
		var d fromDownstream
		if errors.As(err, &d) {
			return err
		}
		var pe *problem.Error
		if errors.As(err, &pe) && pe.Status >= 400 && pe.Status < 500 {
			secevent.Emit(r.Context(), secevent.Event{Type: typ, Status: pe.Status, Reason: refusalReason(pe)})
		}
		return err
	})
}

// maxReasonPointers bounds how many violation locations a reason names.
const maxReasonPointers = 5

// refusalReason is the problem type and, for validation problems, the
// JSON pointers or parameter names of the violations: locations, never
// the values sent.
func refusalReason(pe *problem.Error) string {
	vs, _ := pe.Extensions["errors"].([]problem.Violation)
	if len(vs) == 0 {
		return pe.Type
	}
	var b strings.Builder
	b.WriteString(pe.Type)
	for i, v := range vs {
		if i == maxReasonPointers {
			b.WriteString(" ...")
			break
		}
		b.WriteByte(' ')
		switch {
		case v.Pointer != nil:
			b.WriteString(truncate(*v.Pointer))
		case v.Parameter != "":
			b.WriteString(v.In + ":" + truncate(v.Parameter))
		}
	}
	return b.String()
}

func truncate(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
