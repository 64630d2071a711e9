package gateway

import (
	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/authz"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/fapi"
	"github.com/portcullis/portcullis/internal/ipfilter"
	"github.com/portcullis/portcullis/internal/jsonlimits"
	"github.com/portcullis/portcullis/internal/openapi"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/secmon"
	"github.com/portcullis/portcullis/internal/validate"
)

// stageBuilder makes one kind of request stage for a route, or nil when
// the stage has nothing to do on that route. It receives configuration
// that config.Parse already validated; an error is a build problem (a key
// file that cannot be read), reported with the route's path.
type stageBuilder func(b *routeBuild) (pipeline.Stage, error)

// stages is the registry of request stages: adding a stage is its package,
// its config struct and one line here. Stages run by phase (see
// pipeline.Phase); within a phase, in the order of this list. Response
// stages act on the upstream's answer in their response phase's order.
// Two parts of every chain are not listed: the body stage (built last, so
// that it knows whether a stage needs the body) and the forwarder at the
// end.
var stages = []stageBuilder{
	// Admit: what needs no identity.
	fapiStage,
	func(b *routeBuild) (pipeline.Stage, error) {
		return nilStage(ipfilter.New(b.route.IPAllow, b.route.IPDeny)), nil
	},
	func(b *routeBuild) (pipeline.Stage, error) { return nilStage(securityStage(b)), nil },
	func(b *routeBuild) (pipeline.Stage, error) { return nilStage(b.rt.guard), nil },
	func(b *routeBuild) (pipeline.Stage, error) {
		return validate.BodyLimit(int64(*b.route.MaxBodyBytes)), nil
	},
	// Authenticate, Authorise.
	authenticateStage,
	func(b *routeBuild) (pipeline.Stage, error) { return nilStage(authorisePolicy(b.route)), nil },
	// Idempotency-Key lookup: after authorisation (a replay is only for
	// who may make the request), before admission (a replay is not
	// counted by the rate limits).
	func(b *routeBuild) (pipeline.Stage, error) { return nilStage(b.rt.idem.Lookup(b.route)), nil },
	// Admission.
	func(b *routeBuild) (pipeline.Stage, error) { return b.rt.limits.Route(b.route), nil },
	// Validate: media type and JSON structure first (cheap, exact 415 and
	// 400 answers, and the WAF's and the schemas' parsers only see strictly
	// parsed JSON), then the WAF and the OpenAPI contract.
	func(b *routeBuild) (pipeline.Stage, error) {
		return nilStage(jsonlimits.New(b.route.Name, b.route.ContentTypes, b.route.JSONLimits, b.rt.deps.Metrics)), nil
	},
	func(b *routeBuild) (pipeline.Stage, error) { return b.rt.waf.Stage(b.route), nil },
	func(b *routeBuild) (pipeline.Stage, error) { return b.rt.specs.Stage(b.route, b.rt.openapiDeps()), nil },
	// Validate: message signatures (body read, consumer known).
	func(b *routeBuild) (pipeline.Stage, error) {
		s, err := b.rt.sig.Verifier(b.route)
		return nilStage(s), err
	},
	// Forward: idempotency (reserve, capture, replay), signing the
	// upstream request and the response.
	func(b *routeBuild) (pipeline.Stage, error) { return nilStage(b.rt.idem.Enforce(b.route)), nil },
	func(b *routeBuild) (pipeline.Stage, error) { return nilStage(b.rt.sig.UpstreamSigner(b.route)), nil },
	func(b *routeBuild) (pipeline.Stage, error) { return nilStage(b.rt.sig.ResponseSigner(b.route)), nil },
}

// routeBuild is what a route's stages are built from: the runtime-wide
// parts and the stages built so far (in registry order).
type routeBuild struct {
	rt    *runtimeBuild
	route config.Route
	path  string
	// auths are the route's authenticators with its rules applied (nil on
	// auth: none routes).
	auths  []authn.Authenticator
	stages []pipeline.Stage
}

// nilStage turns a typed nil (a part with nothing to do) into no stage.
func nilStage[T interface {
	pipeline.Stage
	comparable
}](s T) pipeline.Stage {
	var zero T
	if s == zero {
		return nil
	}
	return s
}

// securityStage enforces the security monitor's blocks on the route and
// reports its authentication outcomes.
func securityStage(b *routeBuild) *secmon.Stage {
	if !securityOn(b.rt.cfg, b.rt.deps) {
		return nil
	}
	return b.rt.deps.Security.Stage()
}

// fapiStage is the FAPI 2.0 profile's transport and interaction-id rules,
// on routes with profile fapi2.
func fapiStage(b *routeBuild) (pipeline.Stage, error) {
	if b.route.Profile != "fapi2" {
		return nil, nil
	}
	return fapi.New(), nil
}

// authorisePolicy is the route's authorisation policy (nil on auth: none
// routes and where nothing is required).
func authorisePolicy(rc config.Route) *authz.Policy {
	if rc.Auth == nil || rc.Auth.None {
		return nil
	}
	return authz.New(*rc.Auth)
}

// openapiDeps are what contract stages report to and buffer responses in.
func (rt *runtimeBuild) openapiDeps() openapi.Deps {
	return openapi.Deps{Log: rt.deps.Log, Metrics: rt.deps.Metrics, Budget: rt.deps.Bodies}
}
