// Package authz owns authorisation: the per-route, per-method requirements
// (scopes all_of/any_of, roles, consumers, groups) checked against the
// authenticated principal, and the 403 answer (problem+json with an RFC 6750
// insufficient_scope challenge naming the scopes needed).
package authz

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/secevent"
)

// rule is one compiled set of grants.
type rule struct {
	allOf, anyOf, roles []string
	consumers, groups   map[string]bool
	scopeParam          string // the WWW-Authenticate scope value
}

// Policy is a route's compiled authorisation: what every method needs and
// what particular methods need in addition.
type Policy struct {
	base    *rule
	methods map[string]*rule
}

// New compiles a route's grants. It returns nil when the route requires
// nothing beyond authentication.
func New(ra config.RouteAuth) *Policy {
	p := &Policy{base: compile(ra.Require), methods: map[string]*rule{}}
	for m, g := range ra.Methods {
		if r := compile(g); r != nil {
			p.methods[m] = r
		}
	}
	// HEAD is served wherever GET is: it must not be a way around GET's rule.
	if r, ok := p.methods[http.MethodGet]; ok {
		if _, own := p.methods[http.MethodHead]; !own {
			p.methods[http.MethodHead] = r
		}
	}
	if p.base == nil && len(p.methods) == 0 {
		return nil
	}
	return p
}

func compile(g config.Grants) *rule {
	if g.IsZero() {
		return nil
	}
	r := &rule{allOf: g.Scopes.AllOf, anyOf: g.Scopes.AnyOf, roles: g.Roles}
	if len(g.Consumers) > 0 {
		r.consumers = set(g.Consumers)
	}
	if len(g.Groups) > 0 {
		r.groups = set(g.Groups)
	}
	r.scopeParam = strings.Join(append(append([]string(nil), r.allOf...), r.anyOf...), " ")
	return r
}

func set(ss []string) map[string]bool {
	m := make(map[string]bool, len(ss))
	for _, s := range ss {
		m[s] = true
	}
	return m
}

var _ pipeline.Stage = (*Policy)(nil)

// Name implements pipeline.Stage.
func (p *Policy) Name() string { return "authorise" }

// ReportsRefusals implements secevent.Reporter (AuthzDenied).
func (p *Policy) ReportsRefusals() {}

// Phase implements pipeline.Stage.
func (p *Policy) Phase() pipeline.Phase { return pipeline.Authorise }

// Handle implements pipeline.Stage: the authenticated caller must meet the
// policy for the request's method.
func (p *Policy) Handle(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		info := reqinfo.From(r.Context())
		if err := p.Check(r.Method, info); err != nil {
			secevent.Emit(r.Context(), secevent.Event{Type: secevent.AuthzDenied, Status: http.StatusForbidden, Reason: info.AuthFailure})
			return err
		}
		return next.ServeHTTP(w, r)
	})
}

// Check returns nil when the request's principal meets the policy for
// method, or the 403 problem (recording the reason on info for the log).
func (p *Policy) Check(method string, info *reqinfo.Info) error {
	pr := info.Principal
	for _, r := range []*rule{p.base, p.methods[method]} {
		if r == nil {
			continue
		}
		if reason, scope := r.check(pr); reason != "" {
			info.AuthFailure = "authz: " + reason
			return forbidden(r, scope, pr)
		}
	}
	return nil
}

// check returns why pr fails r ("" if it does not) and whether the failure
// is about scopes.
func (r *rule) check(pr *principal.Principal) (reason string, scope bool) {
	if pr == nil {
		return "no principal", false
	}
	for _, s := range r.allOf {
		if !pr.HasScope(s) {
			return fmt.Sprintf("missing scope %q", s), true
		}
	}
	if len(r.anyOf) > 0 && !slices.ContainsFunc(r.anyOf, pr.HasScope) {
		return "none of the scopes " + strings.Join(r.anyOf, ", "), true
	}
	if len(r.roles) > 0 && !slices.ContainsFunc(r.roles, pr.HasRole) {
		return "none of the roles " + strings.Join(r.roles, ", "), false
	}
	if r.consumers != nil && !r.consumers[pr.ConsumerID] {
		return "consumer not allowed", false
	}
	if r.groups != nil && !slices.ContainsFunc(pr.Groups, func(g string) bool { return r.groups[g] }) {
		return "no allowed group", false
	}
	return "", false
}

var (
	bearer   = authn.Challenge{Scheme: "Bearer", Params: [][2]string{{"realm", authn.Realm}}}
	dpopAuth = authn.Challenge{Scheme: "DPoP", Params: [][2]string{{"realm", authn.Realm}}}
)

// forbidden is the 403. A scope failure carries the RFC 6750 §3.1
// insufficient_scope challenge (of the scheme the token came with: DPoP,
// RFC 9449 §7.1, or Bearer) with the scopes the rule names; other failures
// say only that the caller may not do this.
func forbidden(r *rule, scope bool, pr *principal.Principal) *problem.Error {
	if scope {
		ch := bearer
		if pr != nil && pr.Method == principal.MethodDPoP {
			ch = dpopAuth
		}
		desc := "The access token lacks the scope this request needs."
		pe := problem.New(http.StatusForbidden, "insufficient-scope", "Forbidden", desc)
		return pe.WithHeader("WWW-Authenticate", ch.String(
			[2]string{"error", "insufficient_scope"}, [2]string{"error_description", desc}, [2]string{"scope", r.scopeParam}))
	}
	return problem.New(http.StatusForbidden, "forbidden", "Forbidden", "The caller is not allowed to make this request.")
}
