package openapi

import (
	"context"
	"errors"
	"github.com/portcullis/portcullis/internal/secevent"
	"log/slog"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/validate"
)

// Deps are the process's parts a stage reports to and buffers in.
type Deps struct {
	Log     *slog.Logger
	Metrics *observe.Metrics // nil: not counted
	// Budget bounds the memory of kept response bodies (the request
	// bodies' budget).
	Budget *validate.Budget
}

// Stage is a route's Validate-phase contract check. It needs the body
// (every body: a body where the operation takes none is refused too).
type Stage struct {
	route   string
	doc     *Document
	report  bool
	pass    bool // unknown operations are forwarded
	base    string
	log     *slog.Logger
	metrics *observe.Metrics
}

// responseStage also checks the upstream's responses (CheckResponse).
type responseStage struct {
	*Stage
	report bool
	relay  bool // uninspectable responses are relayed
	check  responseCheck
}

var (
	_ pipeline.BodyConsumer  = (*Stage)(nil)
	_ pipeline.ResponseStage = (*responseStage)(nil)
)

// New returns the stage holding route's requests (and, when configured,
// its responses) to doc under o.
func New(route string, o *config.OpenAPI, doc *Document, d Deps) pipeline.Stage {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stage{route: route, doc: doc, report: o.Mode == "report", pass: o.UnknownOperations == "pass",
		base: o.BasePath, log: log, metrics: d.Metrics}
	if o.Responses.Mode == "off" {
		return s
	}
	budget := d.Budget
	if budget == nil {
		budget = validate.NewBudget(validate.DefaultBudget)
	}
	return &responseStage{Stage: s, report: o.Responses.Mode == "report", relay: o.Responses.Uninspectable == "relay",
		check: responseCheck{max: int64(o.Responses.MaxBodyBytes), budget: budget}}
}

func (*Stage) Name() string { return "openapi" }

// RefusalType implements secevent.Classifier: the gateway reports this
// stage's refusals as validation rejections.
func (*Stage) RefusalType() secevent.Type { return secevent.ValidationRejected }
func (*Stage) Phase() pipeline.Phase      { return pipeline.Validate }
func (*Stage) NeedsBody() bool            { return true }

func (s *Stage) Handle(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		info := reqinfo.From(r.Context())
		op, params := s.operation(r.Method, info.Path)
		if op == nil {
			if s.pass {
				return next.ServeHTTP(w, r)
			}
			v := verdict{status: http.StatusNotFound, findings: []finding{{kindUnknownOperation, problem.Violation{Reason: "the method and path are not in the document"}}}}
			if err := s.conclude(r.Context(), info, "request", s.report, v); err != nil {
				return err
			}
			return next.ServeHTTP(w, r)
		}
		v, err := checkRequest(r.Context(), r, info, op, params)
		if err != nil {
			return s.fail(info, "request", err)
		}
		if err := s.conclude(r.Context(), info, "request", s.report, v); err != nil {
			return err
		}
		return next.ServeHTTP(w, r)
	})
}

// operation is the document's operation for a request, the base path
// taken off the normalised path first.
func (s *Stage) operation(method, path string) (*operation, map[string]string) {
	if s.base != "" {
		rest, ok := strings.CutPrefix(path, s.base)
		switch {
		case !ok:
			return nil, nil
		case rest == "":
			rest = "/"
		case rest[0] != '/':
			return nil, nil
		}
		path = rest
	}
	return s.doc.find(method, path)
}

// conclude counts and reports a verdict, and in enforce mode turns it into
// the client's problem.
func (s *Stage) conclude(ctx context.Context, info *reqinfo.Info, direction string, report bool, v verdict) error {
	if v.status == 0 {
		return nil
	}
	seen := map[string]bool{}
	for _, f := range v.findings {
		if seen[f.kind] {
			continue
		}
		seen[f.kind] = true
		if report {
			s.metrics.ValidationReported(s.route, f.kind)
		} else {
			s.metrics.ValidationFailed(s.route, f.kind)
		}
	}
	vs := make([]problem.Violation, 0, len(v.findings))
	for _, f := range v.findings {
		vs = append(vs, f.v)
	}
	vs = dedupe(vs)
	if report {
		s.log.LogAttrs(ctx, slog.LevelWarn, "validation finding", slog.String("route", s.route), slog.String("request_id", info.ID),
			slog.String("direction", direction), slog.String("kind", v.findings[0].kind), slog.String("findings", describe(vs)))
		return nil
	}
	cause := errors.New("openapi " + direction + ": " + describe(vs))
	switch {
	case direction == "response":
		return problem.New(http.StatusBadGateway, "response-validation-failed", "Bad Gateway",
			"The upstream's response does not match the API's contract.").WithCause(cause)
	case v.status == http.StatusNotFound:
		return problem.NotFound().WithCause(cause)
	case v.status == http.StatusUnsupportedMediaType:
		return problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported Media Type",
			"The request's Content-Type is not accepted here.").WithCause(cause)
	}
	return problem.BadRequest("request-validation-failed", "The request does not match the API's contract.").
		WithViolations(vs[:min(len(vs), maxViolations)]).WithCause(cause)
}

// fail is a validator failure: logged with the request id and answered
// 500, in report mode too (a check that cannot run never lets through).
func (s *Stage) fail(info *reqinfo.Info, direction string, err error) error {
	s.metrics.ValidationFailed(s.route, kindError)
	s.log.Error("openapi validator failed", "route", s.route, "request_id", info.ID, "direction", direction, "error", err.Error())
	return problem.Internal(err)
}

func (*responseStage) ResponsePhase() pipeline.ResponsePhase { return pipeline.CheckResponse }

// OnResponse checks the upstream's response to a request the document
// declares. A refusal replaces the response (502); its body is never
// relayed.
func (s *responseStage) OnResponse(resp *http.Response, r *http.Request) error {
	if r == nil {
		r = resp.Request
	}
	switch resp.StatusCode {
	case http.StatusNotModified, http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return nil
	}
	if r == nil || r.Method == http.MethodHead {
		return nil
	}
	info := reqinfo.From(r.Context())
	op, _ := s.operation(r.Method, info.Path)
	if op == nil {
		return nil
	}
	v, uninspectable, err := s.check.check(resp, op)
	if err != nil {
		if errors.Is(err, errReadResponse) {
			return problem.BadGateway(err)
		}
		return s.fail(info, "response", err)
	}
	if uninspectable {
		report := s.report || s.relay
		v = verdict{status: http.StatusBadGateway, findings: []finding{{kindResponseUninspectable,
			problem.Violation{Reason: "the response is too large, streamed, encoded or over the memory budget to be checked"}}}}
		return s.conclude(r.Context(), info, "response", report, v)
	}
	return s.conclude(r.Context(), info, "response", s.report, v)
}
