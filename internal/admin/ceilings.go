package admin

import (
	"net/http"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/problem"
)

// scopeCeiling is the set of scopes a role may grant (admin.roles.<role>.
// max_scopes), built once at startup.
type scopeCeiling struct {
	any     bool
	allowed map[string]bool
}

func newCeiling(scopes []string) scopeCeiling {
	c := scopeCeiling{allowed: map[string]bool{}}
	for _, sc := range scopes {
		if sc == config.AnyScope {
			c.any = true
		}
		c.allowed[sc] = true
	}
	return c
}

// ceilings maps every role to its ceiling. A role without one (auditor)
// may grant nothing; the routes do not let it try anyway.
func ceilings(r config.AdminRoles) map[Role]scopeCeiling {
	admin := newCeiling(r.Admin.MaxScopes)
	if r.Admin.MaxScopes == nil {
		// Unset: the admin role has no ceiling (the documented default).
		admin.any = true
	}
	return map[Role]scopeCeiling{RoleAdmin: admin, RoleOperator: newCeiling(r.Operator.MaxScopes)}
}

// refused returns the scopes outside the ceiling, in the order asked.
// Malformed scopes are left to validation, which answers 400 naming them.
func (c scopeCeiling) refused(scopes []string) []string {
	if c.any {
		return nil
	}
	var out []string
	for _, sc := range scopes {
		if !c.allowed[sc] && config.ValidScope(sc) && !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// checkScopes refuses (403) a key that would carry scopes outside the
// caller's ceiling, naming them. It is the one check every operation that
// puts scopes on a key secret (issue, rotate) goes through.
func (s *Server) checkScopes(c *call, scopes []string) error {
	bad := s.ceilings[c.actor.role].refused(scopes)
	if len(bad) == 0 {
		return nil
	}
	c.refusedScopes = bad
	pe := problem.New(http.StatusForbidden, "scope-not-grantable", "Forbidden",
		"Your role ("+string(c.actor.role)+") may not grant these scopes: "+strings.Join(bad, ", ")+".")
	pe.Extensions = map[string]any{"refused_scopes": bad}
	return pe
}
