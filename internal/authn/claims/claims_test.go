package claims

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/principal"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
		dup     bool
	}{
		{"plain object", `{"sub":"a","aud":["x","y"],"n":1.5,"o":{"k":[1,{"z":true}]}}`, false, false},
		{"duplicate top-level", `{"sub":"a","sub":"admin"}`, true, true},
		{"duplicate nested", `{"realm_access":{"roles":["a"],"roles":["admin"]}}`, true, true},
		{"duplicate in object inside array", `{"a":[{"k":1,"k":2}]}`, true, true},
		{"same key in sibling objects is fine", `{"a":{"k":1},"b":{"k":2}}`, false, false},
		{"array top-level", `["a"]`, true, false},
		{"string top-level", `"a"`, true, false},
		{"null", `null`, true, false},
		{"trailing data", `{"a":1}{"b":2}`, true, false},
		{"truncated", `{"a":`, true, false},
		{"too deep", strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40), true, false},
		{"empty", ``, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.dup && !errors.Is(err, ErrDuplicate) {
				t.Fatalf("err = %v, want ErrDuplicate", err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,2,{"c":null}]}}`, `{"a":1,"a":2}`, `[`, `{"a":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode(data)
		if err == nil && s == nil {
			t.Fatal("nil set without error")
		}
	})
}

func TestLookupAndList(t *testing.T) {
	s, err := Decode([]byte(`{
		"sub":"user-1","scope":"a  b c","scp":["x","y",3],
		"realm_access":{"roles":["teller","auditor"]},
		"https://example.com/roles":["ns-role"],
		"n":{"deep":{"v":"ok"}}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, claim string
		want        []string
	}{
		{"space separated", "scope", []string{"a", "b", "c"}},
		{"list skips non-strings", "scp", []string{"x", "y"}},
		{"dot path", "realm_access.roles", []string{"teller", "auditor"}},
		{"namespaced name with dots", "https://example.com/roles", []string{"ns-role"}},
		{"missing", "nope.roles", nil},
		{"path through non-object", "sub.x", nil},
		{"deep string", "n.deep.v", []string{"ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.List(tt.claim); !slices.Equal(got, tt.want) {
				t.Fatalf("List(%q) = %q, want %q", tt.claim, got, tt.want)
			}
		})
	}
}

func TestRules(t *testing.T) {
	r := NewRules([]string{"jti"}, []config.ClaimRule{{Claim: "acr", OneOf: []string{"silver", "gold"}}, {Claim: "amr", OneOf: []string{"mfa"}}})
	tests := []struct {
		name   string
		claims string
		ok     bool
	}{
		{"all met", `{"jti":"1","acr":"gold","amr":["pwd","mfa"]}`, true},
		{"required missing", `{"acr":"gold","amr":["mfa"]}`, false},
		{"required null", `{"jti":null,"acr":"gold","amr":["mfa"]}`, false},
		{"value not allowed", `{"jti":"1","acr":"bronze","amr":["mfa"]}`, false},
		{"list without allowed value", `{"jti":"1","acr":"gold","amr":["pwd"]}`, false},
		{"rule claim missing", `{"jti":"1","amr":["mfa"]}`, false},
		{"wrong type", `{"jti":"1","acr":1,"amr":["mfa"]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Decode([]byte(tt.claims))
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Check(s); (err == nil) != tt.ok {
				t.Fatalf("Check = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestPrincipal(t *testing.T) {
	m := config.ClaimMapping{Consumer: "sub", Scopes: "scope", Roles: "realm_access.roles", Groups: "groups"}
	tests := []struct {
		name, claims, consumer string
		wantErr                bool
	}{
		{"sub", `{"sub":"u1","client_id":"c1"}`, "u1", false},
		{"falls back to client_id", `{"client_id":"c1"}`, "c1", false},
		{"falls back to azp", `{"azp":"c2"}`, "c2", false},
		{"no identity", `{"scope":"a"}`, "", true},
		{"non-string sub", `{"sub":5}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := Decode([]byte(tt.claims))
			p, err := Principal(s, m, principal.MethodJWT)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err == nil && p.ConsumerID != tt.consumer {
				t.Fatalf("consumer = %q, want %q", p.ConsumerID, tt.consumer)
			}
		})
	}
}
