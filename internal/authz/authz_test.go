package authz

import (
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

func TestPolicy(t *testing.T) {
	ra := config.RouteAuth{
		Require: config.Grants{Scopes: config.ScopeRule{AllOf: []string{"accounts:read"}}},
		Methods: map[string]config.Grants{
			"GET":    {Scopes: config.ScopeRule{AnyOf: []string{"reports:read", "reports:admin"}}},
			"POST":   {Roles: []string{"teller", "manager"}},
			"DELETE": {Consumers: []string{"ops-bot"}, Groups: []string{"sre"}},
		},
	}
	p := New(ra)
	base := []string{"accounts:read"}
	tests := []struct {
		name      string
		method    string
		pr        *principal.Principal
		status    int
		challenge string
	}{
		{"all_of met, GET any_of met", "GET", &principal.Principal{Scopes: append(base, "reports:admin")}, 0, ""},
		{"all_of missing", "PUT", &principal.Principal{Scopes: []string{"other"}}, 403,
			`Bearer realm="portcullis", error="insufficient_scope", error_description="The access token lacks the scope this request needs.", scope="accounts:read"`},
		{"GET any_of missing", "GET", &principal.Principal{Scopes: base}, 403,
			`Bearer realm="portcullis", error="insufficient_scope", error_description="The access token lacks the scope this request needs.", scope="reports:read reports:admin"`},
		{"HEAD uses GET's rule", "HEAD", &principal.Principal{Scopes: base}, 403,
			`Bearer realm="portcullis", error="insufficient_scope", error_description="The access token lacks the scope this request needs.", scope="reports:read reports:admin"`},
		{"POST role met", "POST", &principal.Principal{Scopes: base, Roles: []string{"manager"}}, 0, ""},
		{"POST role missing", "POST", &principal.Principal{Scopes: base, Roles: []string{"viewer"}}, 403, ""},
		{"DELETE consumer and group met", "DELETE", &principal.Principal{Scopes: base, ConsumerID: "ops-bot", Groups: []string{"sre"}}, 0, ""},
		{"DELETE wrong consumer", "DELETE", &principal.Principal{Scopes: base, ConsumerID: "alice", Groups: []string{"sre"}}, 403, ""},
		{"DELETE wrong group", "DELETE", &principal.Principal{Scopes: base, ConsumerID: "ops-bot", Groups: []string{"dev"}}, 403, ""},
		{"no principal", "GET", nil, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := &reqinfo.Info{Principal: tt.pr}
			err := p.Check(tt.method, info)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			pe := problem.From(err)
			if pe.Status != tt.status || pe.Header.Get("WWW-Authenticate") != tt.challenge {
				t.Fatalf("got %d %q, want %d %q", pe.Status, pe.Header.Get("WWW-Authenticate"), tt.status, tt.challenge)
			}
			if info.AuthFailure == "" {
				t.Fatal("no reason recorded for the log")
			}
		})
	}
}

func TestNoRequirementsNoStage(t *testing.T) {
	if New(config.RouteAuth{Authenticators: []string{"a"}}) != nil {
		t.Fatal("a route requiring nothing got an authorisation step")
	}
	if New(config.RouteAuth{Methods: map[string]config.Grants{"GET": {}}}) != nil {
		t.Fatal("empty per-method grants built a policy")
	}
}
