package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/secevent"
)

type recordSink struct{ evs []secevent.Event }

func (s *recordSink) Emit(ev secevent.Event) { s.evs = append(s.evs, ev) }

// refusing is a stage that returns err itself (nil: calls next).
type refusing struct {
	name  string
	phase pipeline.Phase
	err   error
}

func (s refusing) Name() string          { return s.name }
func (s refusing) Phase() pipeline.Phase { return s.phase }
func (s refusing) Handle(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if s.err != nil {
			return s.err
		}
		return next.ServeHTTP(w, r)
	})
}

type selfReporting struct{ refusing }

func (selfReporting) ReportsRefusals() {}

type classified struct{ refusing }

func (classified) RefusalType() secevent.Type { return secevent.ValidationRejected }

// Every stage's own 4xx refusal becomes exactly one event at the choke
// point, typed by the stage's class; errors from further down the chain,
// 5xx and self-reporting stages are not reported again.
func TestRefusalsAreReportedOnce(t *testing.T) {
	fapiErr := problem.New(http.StatusForbidden, "tls-profile-required", "Forbidden", "")
	sigErr := problem.New(http.StatusUnauthorized, "signature-invalid", "Unauthorized", "")
	badJSON := problem.BadRequest("invalid-json", "").WithViolations([]problem.Violation{problem.AtPointer("/card", "not a string")})
	for _, tc := range []struct {
		name     string
		stages   []pipeline.Stage
		terminal error
		want     []secevent.Event
	}{
		{name: "admit stage refusal (fapi)", stages: []pipeline.Stage{refusing{"fapi", pipeline.Admit, fapiErr}},
			want: []secevent.Event{{Type: secevent.RequestRefused, Status: 403, Reason: "tls-profile-required"}}},
		{name: "validate stage refusal (msgsig) behind a passing stage",
			stages: []pipeline.Stage{refusing{"fapi", pipeline.Admit, nil}, refusing{"msgsig", pipeline.Validate, sigErr}},
			want:   []secevent.Event{{Type: secevent.RequestRefused, Status: 401, Reason: "signature-invalid"}}},
		{name: "classified stage: pointers, not values", stages: []pipeline.Stage{classified{refusing{"json", pipeline.Validate, badJSON}}},
			want: []secevent.Event{{Type: secevent.ValidationRejected, Status: 400, Reason: "invalid-json /card"}}},
		{name: "self-reporting stage", stages: []pipeline.Stage{selfReporting{refusing{"waf", pipeline.Validate, fapiErr}}}},
		{name: "upstream error is not a refusal", stages: []pipeline.Stage{refusing{"a", pipeline.Admit, nil}, refusing{"b", pipeline.Forward, nil}},
			terminal: problem.New(http.StatusNotFound, "not-found", "Not Found", "")},
		{name: "5xx is not a refusal", stages: []pipeline.Stage{refusing{"idem", pipeline.Forward, problem.Internal(errors.New("store down"))}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recordSink{}
			term := pipeline.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return tc.terminal })
			h, err := pipeline.Compose(term, reportRefusals(tc.stages))
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("GET", "/", nil).WithContext(secevent.With(context.Background(), sink))
			got := h.ServeHTTP(httptest.NewRecorder(), r)
			if want := firstErr(tc.stages, tc.terminal); got != want {
				t.Fatalf("error = %v, want %v unchanged", got, want)
			}
			if len(sink.evs) != len(tc.want) {
				t.Fatalf("events = %+v, want %+v", sink.evs, tc.want)
			}
			for i, w := range tc.want {
				if g := sink.evs[i]; g.Type != w.Type || g.Status != w.Status || g.Reason != w.Reason {
					t.Fatalf("event %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

func firstErr(stages []pipeline.Stage, terminal error) error {
	for _, s := range stages {
		switch s := s.(type) {
		case refusing:
			if s.err != nil {
				return s.err
			}
		case selfReporting:
			return s.err
		case classified:
			return s.err
		}
	}
	return terminal
}
