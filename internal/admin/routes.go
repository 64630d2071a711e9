package admin

import (
	"slices"
	"strings"
)

// Role is an admin API role.
type Role string

// Roles: admin may do everything; operator manages consumers and keys;
// auditor reads everything and changes nothing.
const (
	RoleAdmin    Role = "admin"
	RoleOperator Role = "operator"
	RoleAuditor  Role = "auditor"
)

var (
	everyone  = []Role{RoleAdmin, RoleOperator, RoleAuditor}
	managers  = []Role{RoleAdmin, RoleOperator}
	adminOnly = []Role{RoleAdmin}
	overseers = []Role{RoleAdmin, RoleAuditor}
)

// route is one operation of the admin API: the OpenAPI document describes
// exactly these (a test checks it).
type route struct {
	method  string
	pattern string // segments, "{id}" for the one path parameter
	// action names the operation in the audit trail and the OpenAPI
	// operationId.
	action string
	roles  []Role
	// target is the audit target kind of {id} ("" when none).
	target string
	h      func(c *call) error
}

func (s *Server) routes() []route {
	return []route{
		{"GET", "/v1/whoami", "whoami", everyone, "", s.whoami},
		{"GET", "/v1/openapi.yaml", "openapi.get", everyone, "", s.openapi},

		{"GET", "/v1/consumers", "consumer.list", everyone, "", s.listConsumers},
		{"POST", "/v1/consumers", "consumer.create", managers, "", s.createConsumer},
		{"GET", "/v1/consumers/{id}", "consumer.get", everyone, "consumer", s.getConsumer},
		{"PATCH", "/v1/consumers/{id}", "consumer.update", managers, "consumer", s.updateConsumer},
		{"DELETE", "/v1/consumers/{id}", "consumer.delete", managers, "consumer", s.deleteConsumer},

		{"GET", "/v1/keys", "key.list", everyone, "", s.listKeys},
		{"POST", "/v1/keys", "key.issue", managers, "", s.issueKey},
		{"GET", "/v1/keys/{id}", "key.get", everyone, "key", s.getKey},
		{"POST", "/v1/keys/{id}/rotate", "key.rotate", managers, "key", s.rotateKey},
		{"POST", "/v1/keys/{id}/revoke", "key.revoke", managers, "key", s.revokeKey},

		{"GET", "/v1/consumers/{id}/signing-keys", "signing_key.list", everyone, "consumer", s.listSigningKeys},
		{"POST", "/v1/consumers/{id}/signing-keys", "signing_key.add", managers, "consumer", s.addSigningKey},
		{"GET", "/v1/signing-keys/{id}", "signing_key.get", everyone, "signing_key", s.getSigningKey},
		{"POST", "/v1/signing-keys/{id}/rotate", "signing_key.rotate", managers, "signing_key", s.rotateSigningKey},
		{"POST", "/v1/signing-keys/{id}/revoke", "signing_key.revoke", managers, "signing_key", s.revokeSigningKey},
		{"GET", "/v1/consumers/{id}/identities", "identity.list", everyone, "consumer", s.listIdentities},
		{"POST", "/v1/consumers/{id}/identities", "identity.create", managers, "consumer", s.createIdentity},
		{"DELETE", "/v1/identities/{id}", "identity.delete", managers, "identity", s.deleteIdentity},

		{"POST", "/v1/idempotency-keys/lookup", "idempotency_key.lookup", everyone, "", s.lookupIdempotencyKey},
		{"POST", "/v1/idempotency-keys/resolve", "idempotency_key.resolve", managers, "", s.resolveIdempotencyKey},

		{"GET", "/v1/admin-tokens", "admin_token.list", overseers, "", s.listTokens},
		{"POST", "/v1/admin-tokens", "admin_token.create", adminOnly, "", s.createToken},
		{"GET", "/v1/admin-tokens/{id}", "admin_token.get", overseers, "admin_token", s.getToken},
		{"POST", "/v1/admin-tokens/{id}/revoke", "admin_token.revoke", adminOnly, "admin_token", s.revokeToken},

		{"GET", "/v1/audit", "audit.list", overseers, "", s.listAudit},
		{"GET", "/v1/audit/verify", "audit.verify", overseers, "", s.verifyAudit},

		{"GET", "/v1/security/blocks", "security.block.list", everyone, "", s.listBlocks},
		{"DELETE", "/v1/security/blocks/{id}", "security.block.lift", managers, "block", s.liftBlock},
		{"GET", "/v1/security/events", "security.event.list", everyone, "", s.listSecurityEvents},
	}
}

// router matches a path against the routes: 404 when no pattern matches,
// 405 (with the allowed methods) when only the method differs.
type router struct{ routes []route }

// match returns the route, the {id} value, and on failure the Allow list
// (empty for 404).
func (rt *router) match(method, path string) (*route, string, string) {
	var allow []string
	for i := range rt.routes {
		r := &rt.routes[i]
		id, ok := matchPattern(r.pattern, path)
		if !ok {
			continue
		}
		if r.method == method {
			return r, id, ""
		}
		allow = append(allow, r.method)
	}
	slices.Sort(allow)
	return nil, "", strings.Join(allow, ", ")
}

func matchPattern(pattern, path string) (string, bool) {
	id := ""
	for {
		ps, prest, pmore := strings.Cut(strings.TrimPrefix(pattern, "/"), "/")
		ss, srest, smore := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		switch {
		case ps == "{id}":
			if ss == "" {
				return "", false
			}
			id = ss
		case ps != ss:
			return "", false
		}
		if pmore != smore {
			return "", false
		}
		if !pmore {
			return id, true
		}
		pattern, path = "/"+prest, "/"+srest
	}
}

func (r *route) allows(role Role) bool { return slices.Contains(r.roles, role) }
