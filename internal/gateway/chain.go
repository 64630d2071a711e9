package gateway

import (
	"fmt"
	"slices"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/authn/apikey"
	"github.com/portcullis/portcullis/internal/authn/introspect"
	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/authn/jwt"
	"github.com/portcullis/portcullis/internal/authn/mtls"
	"github.com/portcullis/portcullis/internal/authn/sender"
	"github.com/portcullis/portcullis/internal/bruteforce"
	"github.com/portcullis/portcullis/internal/clientip"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/idempotency"
	"github.com/portcullis/portcullis/internal/msgsig"
	"github.com/portcullis/portcullis/internal/openapi"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/proxy"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/validate"
	"github.com/portcullis/portcullis/internal/waf"
)

// runtimeBuild is what every route's chain is built from: the parts one
// runtime shares between its routes.
type runtimeBuild struct {
	cfg      *config.Config
	resolver *clientip.Resolver
	auths    map[string]authn.Authenticator
	deps     Deps
	headers  *proxy.HeaderPolicy
	guard    *bruteforce.Guard // nil when brute_force is disabled
	limits   *ratelimit.Limits
	waf      *waf.Set
	specs    *openapi.Specs // the OpenAPI documents, compiled once per build
	idem     *idempotency.Guard
	sig      *msgsig.Runtime
}

// buildChain assembles a route's request path from the stage registry:
// the registered stages that apply to the route, ordered by phase (see
// stages), the body stage, and the forwarder, which alone decides what the
// upstream receives (identity headers, credentials, stripped headers) and
// what the client gets back, running the response stages on the way.
func buildChain(rc config.Route, path string, up *proxy.Upstream, rt *runtimeBuild) (pipeline.Handler, []pipeline.Stage, error) {
	var errs config.Errors
	b := &routeBuild{rt: rt, route: rc, path: path}
	var err error
	if b.auths, err = routeAuthenticators(rc, rt); err != nil {
		errs.Merge(path, prefixed(path, err))
	}
	for _, build := range stages {
		s, err := build(b)
		if err != nil {
			errs.Merge(path, prefixed(path, err))
			continue
		}
		if s != nil {
			b.stages = append(b.stages, s)
		}
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	all := append(b.stages, validate.ReadBody(int64(*rc.MaxBodyBytes), rt.deps.Bodies, pipeline.BodyWanted(b.stages)))
	responseStages := pipeline.ResponseStages(all)
	pipeline.WireReplayers(responseStages)
	fwd := proxy.NewForwarder(up, proxy.Options{
		Timeout: rc.Timeout.D(), Resolver: rt.resolver, Log: rt.deps.Log, Headers: rt.headers,
		Identity: authn.NewOutbound(rt.cfg.IdentityHeaders, rc.Auth, b.auths, rt.auths),
		Route: proxy.RouteOptions{AllowUnderscoreHeaders: rc.AllowUnderscoreHeaders, AllowTrailers: rc.AllowTrailers,
			MaskUpstreamErrors: rc.UpstreamErrors == config.UpstreamErrorsMask},
		ResponseStages: responseStages,
		OutboundStages: pipeline.OutboundStages(all),
	})
	if rc.WebSocket {
		fwd.AllowWebSocket(proxy.TunnelLimits{Idle: rc.WebSocketIdleTimeout.D(), MaxLifetime: rc.WebSocketMaxLifetime.D()})
	}
	ordered, err := pipeline.Order(all)
	if err != nil {
		return nil, nil, config.FieldError{Path: path, Message: err.Error()}
	}
	h, err := pipeline.Compose(fwd, reportRefusals(ordered))
	if err != nil {
		return nil, nil, config.FieldError{Path: path, Message: err.Error()}
	}
	return h, ordered, nil
}

// routeAuthenticators are the route's authenticators in order, with the
// route's rules applied (token sources: query, cookie, strip_token; the
// FAPI 2.0 profile); nil on auth: none routes. Names were checked by
// config.Validate.
func routeAuthenticators(rc config.Route, rt *runtimeBuild) ([]authn.Authenticator, error) {
	if rc.Auth == nil || rc.Auth.None {
		return nil, nil
	}
	rules := authn.RouteRules{
		Sources: authn.TokenSources{Query: rc.Auth.AllowQueryToken, Cookie: rc.Auth.AllowCookieToken, StripHeader: rc.Auth.StripToken},
		FAPI2:   rc.Profile == "fapi2",
	}
	var errs config.Errors
	var list []authn.Authenticator
	for i, name := range rc.Auth.Authenticators {
		a, ok := rt.auths[name]
		if !ok {
			continue // its own build failed and was reported
		}
		if ba, ok := a.(authn.BearerAuthenticator); ok && rules != (authn.RouteRules{}) {
			ra, err := ba.ForRoute(rules)
			if err != nil {
				errs.Merge("", prefixed(config.Index("auth.authenticators", i), err))
				continue
			}
			a = ra
		}
		list = append(list, a)
	}
	return list, errs.Err()
}

// authenticateStage is the route's authentication, observed by the stages
// registered before it that observe authentication outcomes.
func authenticateStage(b *routeBuild) (pipeline.Stage, error) {
	if b.auths == nil {
		return nil, nil
	}
	return authn.NewStage(b.auths, pipeline.AuthObservers(b.stages)), nil
}

// buildAuthenticators builds every configured authenticator once per
// runtime, keyed by name.
func buildAuthenticators(cfg *config.Config, deps Deps) (map[string]authn.Authenticator, error) {
	var errs config.Errors
	out := map[string]authn.Authenticator{}
	if deps.JWKS == nil {
		deps.JWKS = jwks.NewRegistry(deps.Log, deps.Now)
	}
	for i, ac := range cfg.Authenticators {
		path := config.Index("authenticators", i)
		var (
			a   authn.Authenticator
			err error
		)
		switch ac.Type() {
		case "jwt":
			path = config.Join(path, "jwt")
			var pol *sender.Policy
			if pol, err = senderPolicy(cfg, ac.JWT.DPoP, deps); err == nil {
				a, err = jwt.New(ac.Name, *ac.JWT, jwt.Deps{JWKS: deps.JWKS, Cache: deps.TokenCache, Now: deps.Now, Log: deps.Log, Sender: pol})
			}
		case "introspection":
			path = config.Join(path, "introspection")
			var pol *sender.Policy
			if pol, err = senderPolicy(cfg, ac.Introspection.DPoP, deps); err == nil {
				a, err = introspect.New(ac.Name, *ac.Introspection, introspect.Deps{Cache: deps.TokenCache, Now: deps.Now, Log: deps.Log, Sender: pol})
			}
		case "mtls":
			path = config.Join(path, "mtls")
			a, err = mtls.New(ac.Name, *ac.MTLS, mtls.Deps{ClientCAFiles: clientCAFiles(cfg), Now: deps.Now, Log: deps.Log})
		case "api_key":
			if a, err = apikey.New(ac.Name, *ac.APIKey, apikey.Deps{Keys: deps.Keys}); err != nil {
				err = prefixed("api_key", err)
			}
		default:
			err = fmt.Errorf("authenticator type %q is not available in this build", ac.Type())
		}
		if err != nil {
			errs.Merge(path, prefixed(path, err))
			continue
		}
		out[ac.Name] = a
	}
	return out, errs.Err()
}

// senderPolicy is how a bearer-token authenticator with dpop block d
// reads tokens and checks their bindings. Its errors are relative to the
// authenticator's block.
func senderPolicy(cfg *config.Config, d *config.DPoPAuth, deps Deps) (*sender.Policy, error) {
	pol, err := sender.New(sender.Options{DPoP: d, Replay: deps.Replay, CertHeader: cfg.ClientCertHeader, Env: deps.Env, Now: deps.Now})
	if err != nil {
		return nil, prefixed("dpop", err)
	}
	return pol, nil
}

// clientCAFiles lists the listeners' client CA bundles (for mtls CRLs).
func clientCAFiles(cfg *config.Config) []string {
	var out []string
	for _, l := range cfg.Listeners {
		if l.TLS != nil && l.TLS.ClientCAFile != "" {
			out = append(out, l.TLS.ClientCAFile)
		}
	}
	return out
}

// buildWAF compiles the WAF instances the routes use (reusing the
// process's compiled ones across reloads).
func buildWAF(cfg *config.Config, deps Deps) (*waf.Set, error) {
	engines := deps.WAF
	if engines == nil {
		var err error
		if engines, err = waf.NewEngines(waf.Options{Log: deps.Log}); err != nil {
			return nil, err
		}
	}
	redact := cfg.Logging.Access.RedactHeaders
	for _, ac := range cfg.Authenticators {
		if ac.APIKey != nil && ac.APIKey.Header != "" {
			redact = append(slices.Clip(redact), ac.APIKey.Header)
		}
	}
	return engines.Build(cfg, waf.BuildDeps{Bodies: deps.Bodies, RedactHeaders: redact})
}
