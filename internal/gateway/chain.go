package gateway

import (
	"fmt"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/authn/apikey"
	"github.com/portcullis/portcullis/internal/authn/introspect"
	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/authn/jwt"
	"github.com/portcullis/portcullis/internal/authn/mtls"
	"github.com/portcullis/portcullis/internal/authz"
	"github.com/portcullis/portcullis/internal/bruteforce"
	"github.com/portcullis/portcullis/internal/clientip"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/ipfilter"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/proxy"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/validate"
)

// buildChain assembles a route's middleware chain. The order is fixed and
// deliberate: cheap rejections first, then who is calling, then what they
// may do, then forwarding.
//
//  1. the route's IP allow/deny lists (403)
//  2. brute-force: a blocked client IP gets 429; 401s from below are counted
//  3. body size limit (413 before anything reads the body)
//  4. authentication (401), unless the route is auth: none, then the
//     brute-force check of the verified credential (429)
//  5. authorisation (403): scopes, roles, consumers, groups per method
//  6. rate limits, quotas and concurrency limits (429, RateLimit fields)
//  7. a body of unknown length is read up to the limit (413 before the
//     upstream sees any of it); only admitted callers get this far
//  8. the forwarder, which alone decides what the upstream receives
//     (identity headers, credentials, stripped headers) and what the
//     client gets back
func buildChain(rc config.Route, path string, up *proxy.Upstream, env chainEnv) (pipeline.Handler, error) {
	var errs config.Errors
	ipf, err := ipfilter.New(rc.IPAllow, rc.IPDeny)
	if err != nil {
		errs.Merge(path, prefixed(path, err))
	}
	mws := []pipeline.Middleware{ipf.Middleware()}
	if env.guard != nil {
		mws = append(mws, env.guard.Outer())
	}
	mws = append(mws, validate.BodyLimit(int64(*rc.MaxBodyBytes)))
	var routeAuths []authn.Authenticator
	if rc.Auth != nil && !rc.Auth.None {
		var list []authn.Authenticator
		src := authn.TokenSources{Query: rc.Auth.AllowQueryToken, Cookie: rc.Auth.AllowCookieToken, StripHeader: rc.Auth.StripToken}
		for j, name := range rc.Auth.Authenticators {
			a, ok := env.auths[name]
			if !ok {
				errs.Add(config.Index(config.Join(path, "auth.authenticators"), j), "authenticator %q is not available", name)
				continue
			}
			if ba, ok := a.(authn.BearerAuthenticator); ok && src != (authn.TokenSources{}) {
				a = ba.WithTokenSources(src)
			}
			list = append(list, a)
		}
		routeAuths = list
		mws = append(mws, authn.Middleware(list))
		if env.guard != nil {
			mws = append(mws, env.guard.AfterAuth())
		}
		mws = append(mws, authz.New(*rc.Auth).Middleware())
	}
	if env.limits != nil {
		mws = append(mws, env.limits.Route(rc))
	}
	mws = append(mws, validate.BufferBody(int64(*rc.MaxBodyBytes)))
	if len(errs) > 0 {
		return nil, errs
	}
	fwd := proxy.NewForwarder(up, proxy.Options{
		Timeout: rc.Timeout.D(), Resolver: env.resolver, Log: env.deps.Log, Headers: env.headers,
		Identity: authn.NewOutbound(env.cfg.IdentityHeaders, rc.Auth, routeAuths, env.auths),
		Route: proxy.RouteOptions{AllowUnderscoreHeaders: rc.AllowUnderscoreHeaders, AllowTrailers: rc.AllowTrailers,
			MaskUpstreamErrors: rc.UpstreamErrors == config.UpstreamErrorsMask},
	})
	if rc.WebSocket {
		fwd.AllowWebSocket(proxy.TunnelLimits{Idle: rc.WebSocketIdleTimeout.D(), MaxLifetime: rc.WebSocketMaxLifetime.D()})
	}
	return pipeline.Chain(fwd, mws...), nil
}

// chainEnv is what every route's chain is built from.
type chainEnv struct {
	cfg      *config.Config
	resolver *clientip.Resolver
	auths    map[string]authn.Authenticator
	deps     Deps
	headers  *proxy.HeaderPolicy
	guard    *bruteforce.Guard // nil when brute_force is disabled
	limits   *ratelimit.Limits
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
			a, err = jwt.New(ac.Name, *ac.JWT, jwt.Deps{JWKS: deps.JWKS, Cache: deps.TokenCache, Now: deps.Now, Log: deps.Log})
		case "introspection":
			path = config.Join(path, "introspection")
			a, err = introspect.New(ac.Name, *ac.Introspection, introspect.Deps{Cache: deps.TokenCache, Now: deps.Now, Log: deps.Log})
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
