package admin_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys/keystest"
)

// TestScopeCeilings issues and rotates keys as every role through the real
// admin API: a role can never put on a key (new, or a rotation's
// successor) a scope outside its admin.roles.<role>.max_scopes. Refusals
// are 403 problems naming the scopes, audited as denied, and change
// nothing.
func TestScopeCeilings(t *testing.T) {
	withRoles := func(r config.AdminRoles) func(*config.Admin, *admin.Deps) {
		return func(c *config.Admin, _ *admin.Deps) { c.Roles = r }
	}
	type step struct {
		name, role string
		// issue: scopes of a new key; rotate: scopes of the key rotated
		// (made beforehand by the key service).
		op      string
		scopes  []string
		status  int
		refused []string
	}
	tests := []struct {
		name  string
		roles config.AdminRoles
		steps []step
	}{
		{"default: operators grant no scope, admins any", config.AdminRoles{}, []step{
			{"operator, no scopes", "operator", "issue", nil, 201, nil},
			{"operator, a scope", "operator", "issue", []string{"accounts:read"}, 403, []string{"accounts:read"}},
			{"operator cert, a scope", "cert", "issue", []string{"accounts:read"}, 403, []string{"accounts:read"}},
			{"operator rotates a scoped key", "operator", "rotate", []string{"accounts:read"}, 403, []string{"accounts:read"}},
			{"operator rotates a key without scopes", "operator", "rotate", nil, 201, nil},
			{"admin, any scope", "admin", "issue", []string{"payments:write", "admin:all"}, 201, nil},
			{"admin rotates", "admin", "rotate", []string{"payments:write"}, 201, nil},
			{"auditor may not issue at all", "auditor", "issue", nil, 403, nil},
		}},
		{"operator ceiling", config.AdminRoles{Operator: config.AdminRole{MaxScopes: []string{"accounts:read", "fx:read"}}}, []step{
			{"operator within", "operator", "issue", []string{"accounts:read", "fx:read"}, 201, nil},
			{"operator beyond", "operator", "issue", []string{"accounts:read", "payments:write", "admin:all", "payments:write"}, 403, []string{"payments:write", "admin:all"}},
			{"operator cert beyond", "cert", "issue", []string{"payments:write"}, 403, []string{"payments:write"}},
			{"malformed scopes stay a 400", "operator", "issue", []string{"bad scope"}, 400, nil},
			{"operator rotates within", "operator", "rotate", []string{"fx:read"}, 201, nil},
			{"operator rotates an admin's wider key", "operator", "rotate", []string{"accounts:read", "payments:write"}, 403, []string{"payments:write"}},
			{"admin still any", "admin", "issue", []string{"payments:write"}, 201, nil},
		}},
		{"admin ceiling and operator any", config.AdminRoles{
			Admin:    config.AdminRole{MaxScopes: []string{"accounts:read"}},
			Operator: config.AdminRole{MaxScopes: []string{config.AnyScope}},
		}, []step{
			{"admin beyond", "admin", "issue", []string{"payments:write"}, 403, []string{"payments:write"}},
			{"admin rotates beyond", "admin", "rotate", []string{"payments:write"}, 403, []string{"payments:write"}},
			{"admin within", "admin", "issue", []string{"accounts:read"}, 201, nil},
			{"operator any", "operator", "issue", []string{"payments:write"}, 201, nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvWith(t, withRoles(tt.roles))
			cons := e.consumer()
			for _, st := range tt.steps {
				t.Run(st.name, func(t *testing.T) {
					var path string
					var body any
					switch st.op {
					case "issue":
						path, body = "/v1/keys", map[string]any{"consumer_id": cons, "scopes": orEmpty(st.scopes)}
					case "rotate":
						path = "/v1/keys/" + keystest.Key(t, e.svc, cons, st.scopes...).Key.ID + "/rotate"
					}
					before := keyCount(t, e, cons)
					r := e.do(st.role, "POST", path, body)
					if r.status != st.status {
						t.Fatalf("status %d, want %d: %s", r.status, st.status, r.body)
					}
					if st.status != 403 || st.refused == nil {
						return
					}
					var p struct {
						Type, Title, Detail string
						Status              int
						Refused             []string `json:"refused_scopes"`
						RequestID           string   `json:"request_id"`
					}
					r.json(t, &p)
					want := "Your role (" + roleOf(st.role) + ") may not grant these scopes: " + strings.Join(st.refused, ", ") + "."
					if p.Type != "https://portcullis.dev/problems/scope-not-grantable" || p.Title != "Forbidden" || p.Status != 403 ||
						p.Detail != want || !slices.Equal(p.Refused, st.refused) || p.RequestID == "" ||
						r.header.Get("Content-Type") != "application/problem+json" {
						t.Fatalf("problem = %+v (%s), want detail %q", p, r.header.Get("Content-Type"), want)
					}
					if after := keyCount(t, e, cons); after != before {
						t.Fatalf("keys of the consumer: %d before, %d after a refusal", before, after)
					}
					ev := lastEvent(t, e)
					action := map[string]string{"issue": "key.issue", "rotate": "key.rotate"}[st.op]
					if ev.Action != action || ev.Outcome != audit.OutcomeDenied || ev.Status != 403 || ev.Role != roleOf(st.role) {
						t.Fatalf("audit event = %+v, want %s denied 403 by %s", ev, action, roleOf(st.role))
					}
				})
			}
		})
	}
}

func TestScopeCeilingConfig(t *testing.T) {
	tests := []struct {
		name   string
		scopes []string
		want   string
	}{
		{"star with others", []string{"*", "a:b"}, `admin.roles.operator.max_scopes[0]: "*" allows every scope: write it alone`},
		{"bad scope", []string{"a b"}, `admin.roles.operator.max_scopes[0]: invalid scope "a b"`},
		{"duplicate", []string{"a:b", "a:b"}, `admin.roles.operator.max_scopes[1]: duplicate scope "a:b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := `
listeners: [{address: "127.0.0.1:8443", insecure: true}]
upstreams: [{name: u, targets: ["http://127.0.0.1:9"]}]
routes: [{name: r, prefix: /, upstream: u, auth: none}]
keys: {store: {path: /tmp/keys.db}}
admin:
  enabled: true
  tls: {cert_file: c, key_file: k}
  roles:
    operator:
      max_scopes: ["` + strings.Join(tt.scopes, `", "`) + `"]
`
			_, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "x", true })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func roleOf(role string) string {
	if role == "cert" {
		return "operator"
	}
	return role
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func keyCount(t *testing.T, e *env, consumer string) int {
	t.Helper()
	ks, _, err := e.svc.ListKeys(bg, consumer, "", 500)
	if err != nil {
		t.Fatal(err)
	}
	return len(ks)
}

func lastEvent(t *testing.T, e *env) audit.Event {
	t.Helper()
	evs, err := e.svc.ListAudit(bg, 0, 10000)
	if err != nil || len(evs) == 0 {
		t.Fatalf("audit: %v (%d events)", err, len(evs))
	}
	return evs[len(evs)-1]
}
