package gateway

import (
	"fmt"

	"github.com/portcullis/portcullis/internal/authn"
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
//  5. rate limits, quotas and concurrency limits (429, RateLimit fields)
//  6. identity headers: incoming copies stripped on every route, verified
//     values set
//  7. the forwarder
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
	if rc.Auth != nil && !rc.Auth.None {
		var list []authn.Authenticator
		for j, name := range rc.Auth.Authenticators {
			a, ok := env.auths[name]
			if !ok {
				errs.Add(config.Index(config.Join(path, "auth.authenticators"), j), "authenticator %q is not available", name)
				continue
			}
			list = append(list, a)
		}
		mws = append(mws, authn.Middleware(list))
		if env.guard != nil {
			mws = append(mws, env.guard.AfterAuth())
		}
	}
	if env.limits != nil {
		mws = append(mws, env.limits.Route(rc))
	}
	mws = append(mws, authn.Identity(env.cfg.IdentityHeaders))
	if len(errs) > 0 {
		return nil, errs
	}
	return pipeline.Chain(proxy.NewForwarder(up, rc.Timeout.D(), env.resolver, env.deps.Log), mws...), nil
}

// chainEnv is what every route's chain is built from.
type chainEnv struct {
	cfg      *config.Config
	resolver *clientip.Resolver
	auths    map[string]authn.Authenticator
	deps     Deps
	guard    *bruteforce.Guard // nil when brute_force is disabled
	limits   *ratelimit.Limits
}

// buildAuthenticators builds every configured authenticator once per
// runtime, keyed by name.
func buildAuthenticators(cfg *config.Config, deps Deps) (map[string]authn.Authenticator, error) {
	var errs config.Errors
	out := map[string]authn.Authenticator{}
	for i, ac := range cfg.Authenticators {
		path := config.Index("authenticators", i)
		var (
			a   authn.Authenticator
			err error
		)
		switch ac.Type() {
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
