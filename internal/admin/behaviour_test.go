package admin_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
)

type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	cons := e.consumer()
	revoked := e.key()
	if _, err := e.svc.RevokeKey(bg, revoked); err != nil {
		t.Fatal(err)
	}
	keystest.Consumer(t, e.svc, "taken-name")
	apiKey, _, _ := keys.Generate(keys.KindLive)
	forgedAdmin, _, _ := keys.Build(keys.KindAdmin, e.ids["admin"])
	tests := []struct {
		name, role, method, path string
		body                     any
		header                   map[string]string
		status                   int
		typ                      string
		fields                   []string
		wwwAuth                  string
	}{
		{name: "no credential", method: "GET", path: "/v1/consumers", status: 401, typ: "unauthenticated",
			wwwAuth: `Bearer realm="portcullis-admin"`},
		{name: "unknown path needs auth first", method: "GET", path: "/v1/secret-things", status: 401, typ: "unauthenticated"},
		{name: "api key as admin token", method: "GET", path: "/v1/consumers", header: map[string]string{"Authorization": "Bearer " + apiKey},
			status: 401, typ: "invalid-credential",
			wwwAuth: `Bearer realm="portcullis-admin", error="invalid_token", error_description="The admin token is invalid."`},
		{name: "forged admin token", method: "GET", path: "/v1/consumers", header: map[string]string{"Authorization": "Bearer " + forgedAdmin},
			status: 401, typ: "invalid-credential"},
		{name: "basic auth", method: "GET", path: "/v1/consumers", header: map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="},
			status: 401, typ: "unauthenticated"},
		{name: "unknown path", role: "admin", method: "GET", path: "/v1/secret-things", status: 404, typ: "not-found"},
		{name: "wrong method", role: "admin", method: "PUT", path: "/v1/consumers", body: map[string]any{}, status: 405, typ: "method-not-allowed"},
		{name: "unknown consumer", role: "admin", method: "GET", path: "/v1/consumers/AAAAAAAAAAAA", status: 404, typ: "not-found"},
		{name: "junk id", role: "admin", method: "GET", path: "/v1/keys/..%2f..", status: 404, typ: "not-found"},
		{name: "duplicate name", role: "operator", method: "POST", path: "/v1/consumers", body: map[string]any{"name": "taken-name"},
			status: 409, typ: "conflict"},
		{name: "rotate a revoked key", role: "operator", method: "POST", path: "/v1/keys/" + revoked + "/rotate", status: 409, typ: "conflict"},
		{name: "invalid fields", role: "operator", method: "POST", path: "/v1/keys",
			body:   map[string]any{"consumer_id": cons, "scopes": []string{"bad scope"}, "allowed_cidrs": []string{"nope"}, "expires_at": "2001-01-01T00:00:00Z"},
			status: 400, typ: "invalid-request", fields: []string{"scopes[0]", "expires_at", "allowed_cidrs[0]"}},
		{name: "unknown field", role: "operator", method: "POST", path: "/v1/consumers", body: map[string]any{"name": "x", "is_admin": true},
			status: 400, typ: "invalid-json"},
		{name: "not json", role: "operator", method: "POST", path: "/v1/consumers", body: "{", status: 400, typ: "invalid-json"},
		{name: "two values", role: "operator", method: "POST", path: "/v1/consumers", body: `{"name":"a"} {"name":"b"}`, status: 400, typ: "invalid-json"},
		{name: "wrong content type", role: "operator", method: "POST", path: "/v1/consumers", body: map[string]any{"name": "x"},
			header: map[string]string{"Content-Type": "text/plain"}, status: 415, typ: "unsupported-media-type"},
		{name: "body too large", role: "operator", method: "POST", path: "/v1/consumers",
			body: `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, status: 413, typ: "payload-too-large"},
		{name: "bad grace", role: "operator", method: "POST", path: "/v1/keys/" + e.key() + "/rotate", body: map[string]any{"grace": "forever"},
			status: 400, typ: "invalid-request", fields: []string{"grace"}},
		{name: "grace too long", role: "operator", method: "POST", path: "/v1/keys/" + e.key() + "/rotate", body: map[string]any{"grace": "31d"},
			status: 400, typ: "invalid-request", fields: []string{"grace"}},
		{name: "bad limit", role: "auditor", method: "GET", path: "/v1/consumers?limit=100000", status: 400, typ: "invalid-request", fields: []string{"limit"}},
		{name: "bad cursor", role: "auditor", method: "GET", path: "/v1/keys?cursor=%27%20OR%201=1", status: 400, typ: "invalid-request", fields: []string{"cursor"}},
		{name: "bad role", role: "admin", method: "POST", path: "/v1/admin-tokens", body: map[string]any{"name": "x", "role": "root"},
			status: 400, typ: "invalid-request", fields: []string{"role"}},
		{name: "unmapped client certificate", role: "stranger", method: "GET", path: "/v1/whoami", status: 401, typ: "unauthenticated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.doWith(tc.role, tc.method, tc.path, tc.body, tc.header)
			if resp.status != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.status, tc.status, resp.body)
			}
			var p problemBody
			resp.json(t, &p)
			if p.Type != "https://portcullis.dev/problems/"+tc.typ || p.Status != tc.status || p.RequestID != resp.header.Get("X-Request-Id") {
				t.Fatalf("problem = %s", resp.body)
			}
			if ct := resp.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if resp.header.Get("Cache-Control") != "no-store" {
				t.Fatal("problem without Cache-Control: no-store")
			}
			if len(p.Errors) != len(tc.fields) {
				t.Fatalf("errors = %+v, want fields %v", p.Errors, tc.fields)
			}
			for i, f := range tc.fields {
				if p.Errors[i].Field != f {
					t.Errorf("error %d on %q, want %q", i, p.Errors[i].Field, f)
				}
			}
			if tc.wwwAuth != "" && resp.header.Get("Www-Authenticate") != tc.wwwAuth {
				t.Fatalf("WWW-Authenticate = %q, want %q", resp.header.Get("Www-Authenticate"), tc.wwwAuth)
			}
			if tc.status == 405 && resp.header.Get("Allow") != "GET, POST" {
				t.Fatalf("Allow = %q", resp.header.Get("Allow"))
			}
		})
	}
}

func (e *env) doWith(role, method, path string, body any, header map[string]string) response {
	e.t.Helper()
	if header == nil {
		return e.do(role, method, path, body)
	}
	req := e.request(role, method, path, body)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return e.send(role, req)
}

// The key's secret is in the issuing response and nowhere else: not in
// reads, lists, the audit trail or the database.
func TestSecretShownOnce(t *testing.T) {
	e := newEnv(t)
	cons := e.consumer()
	resp := e.do("operator", "POST", "/v1/keys", map[string]any{"consumer_id": cons, "scopes": []string{"accounts:read"},
		"allowed_cidrs": []string{"10.0.0.0/8"}, "notes": "for the mobile app"})
	if resp.status != 201 {
		t.Fatalf("issue: %d %s", resp.status, resp.body)
	}
	var issued struct {
		Key    keys.Key `json:"key"`
		Secret string   `json:"secret"`
	}
	resp.json(t, &issued)
	if resp.header.Get("Location") != "/v1/keys/"+issued.Key.ID || resp.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", resp.header)
	}
	if v, err := e.svc.Verify(bg, issued.Secret, mustAddr("10.1.1.1")); err != nil || v.ConsumerID != cons {
		t.Fatalf("the issued secret does not verify: %v", err)
	}
	var seen []byte
	for _, p := range []string{"/v1/keys/" + issued.Key.ID, "/v1/keys?consumer_id=" + cons, "/v1/audit?limit=500"} {
		r := e.do("admin", "GET", p, nil)
		seen = append(seen, r.body...)
	}
	for _, s := range keystest.Secretish(issued.Secret) {
		if strings.Contains(string(seen), s) {
			t.Fatalf("the secret is visible after issuing: %s", seen)
		}
	}
	// Rotation returns the successor's secret once, and the previous key.
	rot := e.do("operator", "POST", "/v1/keys/"+issued.Key.ID+"/rotate", map[string]any{"grace": "2h"})
	var rotated struct {
		Key      keys.Key `json:"key"`
		Secret   string   `json:"secret"`
		Previous keys.Key `json:"previous"`
	}
	rot.json(t, &rotated)
	if rot.status != 201 || rotated.Previous.State != "rotating" || rotated.Previous.SuccessorID != rotated.Key.ID ||
		!strings.HasPrefix(rotated.Secret, rotated.Key.Prefix) || rotated.Key.AllowedCIDRs[0] != "10.0.0.0/8" {
		t.Fatalf("rotate = %d %s", rot.status, rot.body)
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		want[e.consumer()] = true
	}
	got := map[string]bool{}
	cursor := ""
	pages := 0
	for ; pages < 10; pages++ {
		path := "/v1/consumers?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			NextCursor string `json:"next_cursor"`
		}
		e.do("auditor", "GET", path, nil).json(t, &page)
		if len(page.Data) > 2 {
			t.Fatalf("page %d holds %d consumers, limit was 2", pages+1, len(page.Data))
		}
		for _, c := range page.Data {
			got[c.ID] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	if len(got) != 5 || pages+1 != 3 {
		t.Fatalf("paged through %d consumers in %d pages, want 5 in 3", len(got), pages+1)
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("consumer %s missing from the pages", id)
		}
	}
}

func TestDisableConsumerStopsKeys(t *testing.T) {
	e := newEnv(t)
	cons := e.consumer()
	k := keystest.Key(t, e.svc, cons)
	if _, err := e.svc.Verify(bg, k.Secret, mustAddr("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	if r := e.do("operator", "PATCH", "/v1/consumers/"+cons, map[string]any{"disabled": true}); r.status != 200 {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if _, err := e.svc.Verify(bg, k.Secret, mustAddr("192.0.2.1")); err == nil {
		t.Fatal("a disabled consumer's key still verifies")
	}
	if r := e.do("operator", "DELETE", "/v1/consumers/"+cons, nil); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	var key keys.Key
	e.do("auditor", "GET", "/v1/keys/"+k.Key.ID, nil).json(t, &key)
	if key.State != "revoked" {
		t.Fatalf("key of a deleted consumer is %s", key.State)
	}
}

func TestAuditVerifyAndIdentity(t *testing.T) {
	e := newEnv(t)
	var who map[string]string
	e.do("cert", "GET", "/v1/whoami", nil).json(t, &who)
	if who["actor"] != "cert:cn=ops-bot" || who["role"] != "operator" {
		t.Fatalf("whoami via certificate = %v", who)
	}
	e.do("auditor", "GET", "/v1/whoami", nil).json(t, &who)
	if who["actor"] != "token:"+e.ids["auditor"] || who["role"] != "auditor" {
		t.Fatalf("whoami via token = %v", who)
	}
	var v struct {
		OK       bool  `json:"ok"`
		Verified int64 `json:"events_verified"`
	}
	e.do("auditor", "GET", "/v1/audit/verify", nil).json(t, &v)
	if !v.OK || v.Verified < 3 {
		t.Fatalf("verify = %+v", v)
	}
}

func TestNewErrors(t *testing.T) {
	svc := keystest.Service(t, keystest.SQLite(t), keystest.NewSecrets(t), keys.Options{})
	_, err := admin.New(config.Admin{Address: "127.0.0.1:0", TLS: config.AdminTLS{CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key", MinVersion: "1.3"}}, admin.Deps{Keys: svc})
	if fe, ok := err.(config.FieldError); !ok || fe.Path != "admin.tls" {
		t.Fatalf("missing certificate: %v", err)
	}
	if _, err := admin.New(config.Admin{}, admin.Deps{}); err == nil {
		t.Fatal("no key service accepted")
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
