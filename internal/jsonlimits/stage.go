package jsonlimits

import (
	"errors"
	"github.com/portcullis/portcullis/internal/secevent"
	"net/http"
	"slices"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// KindMediaType is the metric kind of a refused media type.
const KindMediaType = "media_type"

// Stage is the Validate-phase stage of a route's body checks: its
// content_types and its json_limits.
type Stage struct {
	route   string
	allowed []string // nil: any media type
	limits  Limits
	json    bool // json_limits on
	metrics *observe.Metrics
}

var (
	_ pipeline.BodySelector = (*Stage)(nil)
)

// New returns the route's stage, or nil when it lists no content types and
// its JSON limits are off.
func New(route string, contentTypes []config.MediaType, l config.JSONLimits, m *observe.Metrics) *Stage {
	if len(contentTypes) == 0 && !l.On() {
		return nil
	}
	s := &Stage{route: route, json: l.On(), metrics: m, limits: Limits{
		MaxDepth: l.MaxDepth, MaxObjectKeys: l.MaxObjectKeys, MaxArrayLength: l.MaxArrayLength,
		MaxStringLength: int(l.MaxStringLength), MaxNumberLength: l.MaxNumberLength,
	}}
	for _, mt := range contentTypes {
		s.allowed = append(s.allowed, string(mt))
	}
	return s
}

func (*Stage) Name() string { return "json_limits" }

// RefusalType implements secevent.Classifier: the gateway reports this
// stage's refusals as validation rejections.
func (*Stage) RefusalType() secevent.Type { return secevent.ValidationRejected }
func (*Stage) Phase() pipeline.Phase      { return pipeline.Validate }
func (s *Stage) NeedsBody() bool          { return s.json }

// WantsBody reports whether r's body is checked: one with a JSON media
// type, or with no Content-Type at all (it may be JSON to a lenient
// backend). A body whose media type is refused is never read.
func (s *Stage) WantsBody(r *http.Request) bool {
	if !s.json {
		return false
	}
	mt, present, ok := RequestMediaType(r.Header)
	switch {
	case !ok:
		return false
	case !present:
		return s.allowed == nil
	case s.allowed != nil && !slices.Contains(s.allowed, mt.Type):
		return false
	}
	return IsJSON(mt.Type)
}

func (s *Stage) Handle(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		info := reqinfo.From(r.Context())
		if info.BodyRead && len(info.Body) == 0 || !info.BodyRead && !hasBody(r) {
			return next.ServeHTTP(w, r)
		}
		mt, present, ok := RequestMediaType(r.Header)
		switch {
		case !ok, s.allowed != nil && (!present || !slices.Contains(s.allowed, mt.Type)):
			return s.refuse(KindMediaType, UnsupportedMediaType())
		case !s.json:
			return next.ServeHTTP(w, r)
		case present && !IsJSON(mt.Type):
			return next.ServeHTTP(w, r)
		case present && mt.Charset != "" && mt.Charset != "utf-8":
			// JSON is UTF-8 (RFC 8259 §8.1); bytes in another charset
			// would be checked as something else than what they mean.
			return s.refuse(KindMediaType, UnsupportedMediaType())
		case !info.BodyRead:
			// WantsBody asked for it: a body stage that did not read is a
			// wiring fault, never a reason to skip the check.
			return problem.Internal(errBodyNotRead)
		case !present && !looksJSON(info.Body):
			return next.ServeHTTP(w, r)
		}
		if v := Scan(info.Body, s.limits); v != nil {
			return s.refuse(v.Kind, Problem(v))
		}
		return next.ServeHTTP(w, r)
	})
}

var errBodyNotRead = errors.New("json_limits: the body stage did not read a JSON body")

func (s *Stage) refuse(kind string, p *problem.Error) error {
	s.metrics.ValidationFailed(s.route, kind)
	return p
}

// UnsupportedMediaType is the 415 for a body whose media type the route
// does not accept.
func UnsupportedMediaType() *problem.Error {
	return problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported Media Type",
		"The request's Content-Type is not accepted here.")
}

// Problem is the 400 a client gets for v: invalid-json or
// json-limit-exceeded, with the pointer and reason in "errors".
func Problem(v *Violation) *problem.Error {
	p := problem.BadRequest("invalid-json", "The request body is not valid JSON.")
	if v.Limit() {
		p = problem.BadRequest("json-limit-exceeded", "The request body exceeds a structural limit of this route.")
	}
	return p.WithViolations([]problem.Violation{problem.AtPointer(v.Pointer, v.Reason)}).WithCause(v)
}

func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}
