package router

import (
	"fmt"
	"testing"
)

func build(t *testing.T, specs map[string]Spec) *Router[string] {
	t.Helper()
	r := New[string]()
	for name, s := range specs {
		if err := r.Add(s, name, name); err != nil {
			t.Fatalf("Add(%s): %v", name, err)
		}
	}
	return r
}

const allMethods = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"

func TestMatch(t *testing.T) {
	r := build(t, map[string]Spec{
		"list":       {Path: "/v1/accounts", Methods: []string{"GET"}},
		"create":     {Path: "/v1/accounts", Methods: []string{"POST"}},
		"get":        {Path: "/v1/accounts/{id}", Methods: []string{"GET"}},
		"me":         {Path: "/v1/accounts/me", Methods: []string{"GET"}},
		"entries":    {Path: "/v1/accounts/{id}/entries/{entry}"},
		"files":      {Prefix: "/v1/files"},
		"files-deep": {Prefix: "/v1/files/private", Methods: []string{"GET"}},
		"host-only":  {Hosts: []string{"admin.example.com"}, Path: "/v1/accounts", Methods: []string{"GET"}},
		"wild":       {Hosts: []string{"*.tenants.example.com"}, Prefix: "/"},
		"root":       {Path: "/"},
		"slash":      {Path: "/v1/slash/"},
		"shared-get": {Hosts: []string{"shared.example.com"}, Path: "/s", Methods: []string{"GET"}},
		"shared-all": {Hosts: []string{"shared.example.com"}, Path: "/s"},
	})
	tests := []struct {
		name, host, path, method string
		status                   Status
		want                     string
		params                   []Param
		allow                    string
	}{
		{name: "exact", path: "/v1/accounts", method: "GET", status: Found, want: "list"},
		{name: "exact other method", path: "/v1/accounts", method: "POST", status: Found, want: "create"},
		{name: "head follows get", path: "/v1/accounts", method: "HEAD", status: Found, want: "list"},
		{name: "405 with allow", path: "/v1/accounts", method: "DELETE", status: MethodNotAllowed, allow: "GET, HEAD, POST"},
		{name: "param", path: "/v1/accounts/acc_1", method: "GET", status: Found, want: "get", params: []Param{{"id", "acc_1"}}},
		{name: "static beats param", path: "/v1/accounts/me", method: "GET", status: Found, want: "me"},
		{name: "two params", path: "/v1/accounts/a/entries/e", method: "PATCH", status: Found, want: "entries", params: []Param{{"id", "a"}, {"entry", "e"}}},
		{name: "static dead end falls back to param", path: "/v1/accounts/me/entries/e", method: "GET", status: Found, want: "entries", params: []Param{{"id", "me"}, {"entry", "e"}}},
		{name: "param 405", path: "/v1/accounts/acc_1", method: "PUT", status: MethodNotAllowed, allow: "GET, HEAD"},
		{name: "no match deeper", path: "/v1/accounts/acc_1/other", method: "GET", status: NotFound},
		{name: "prefix itself", path: "/v1/files", method: "GET", status: Found, want: "files"},
		{name: "prefix below", path: "/v1/files/a/b", method: "DELETE", status: Found, want: "files"},
		{name: "prefix segment boundary", path: "/v1/filesx", method: "GET", status: NotFound},
		{name: "deeper prefix wins", path: "/v1/files/private/x", method: "GET", status: Found, want: "files-deep"},
		{name: "shallower prefix takes other methods", path: "/v1/files/private/x", method: "POST", status: Found, want: "files"},
		{name: "host specific", host: "admin.example.com", path: "/v1/accounts", method: "GET", status: Found, want: "host-only"},
		{name: "host with port and case", host: "Admin.Example.com:8443", path: "/v1/accounts", method: "GET", status: Found, want: "host-only"},
		{name: "host falls back to any", host: "admin.example.com", path: "/v1/accounts", method: "POST", status: Found, want: "create"},
		{name: "wildcard host", host: "acme.tenants.example.com", path: "/anything", method: "GET", status: Found, want: "wild"},
		{name: "wildcard host deep", host: "a.b.tenants.example.com", path: "/x", method: "GET", status: Found, want: "wild"},
		{name: "wildcard needs a label", host: "tenants.example.com", path: "/x", method: "GET", status: NotFound},
		{name: "root", path: "/", method: "GET", status: Found, want: "root"},
		{name: "trailing slash route", path: "/v1/slash/", method: "GET", status: Found, want: "slash"},
		{name: "trailing slash differs", path: "/v1/slash", method: "GET", status: NotFound},
		{name: "unknown", path: "/v2", method: "GET", status: NotFound},
		// A route without methods takes the registered methods only;
		// methods are case-sensitive, so "post" is not POST.
		{name: "no methods: lower-case post", path: "/v1/accounts/a/entries/e", method: "post", status: MethodNotAllowed, allow: allMethods},
		{name: "no methods: mixed-case Post", path: "/v1/accounts/a/entries/e", method: "Post", status: MethodNotAllowed, allow: allMethods},
		{name: "no methods: lower-case delete", path: "/v1/files/a", method: "delete", status: MethodNotAllowed, allow: allMethods},
		{name: "no methods: TRACE", path: "/", method: "TRACE", status: MethodNotAllowed, allow: allMethods},
		{name: "no methods: CONNECT", path: "/", method: "CONNECT", status: MethodNotAllowed, allow: allMethods},
		{name: "no methods: unregistered method", path: "/", method: "PROPFIND", status: MethodNotAllowed, allow: allMethods},
		{name: "no methods: OPTIONS", path: "/", method: "OPTIONS", status: Found, want: "root"},
		{name: "explicit methods: lower-case get", path: "/v1/accounts", method: "get", status: MethodNotAllowed, allow: "GET, HEAD, POST"},
		{name: "explicit and all share a path", host: "shared.example.com", path: "/s", method: "PUT", status: Found, want: "shared-all"},
		{name: "explicit and all: Allow is the union", host: "shared.example.com", path: "/s", method: "TRACE", status: MethodNotAllowed, allow: allMethods},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := r.Match(tt.host, tt.path, tt.method)
			if res.Status != tt.status {
				t.Fatalf("status = %v, want %v (value %q)", res.Status, tt.status, res.Value)
			}
			if res.Value != tt.want {
				t.Errorf("value = %q, want %q", res.Value, tt.want)
			}
			if fmt.Sprint(res.Params) != fmt.Sprint(tt.params) {
				t.Errorf("params = %v, want %v", res.Params, tt.params)
			}
			if res.Allow != tt.allow {
				t.Errorf("allow = %q, want %q", res.Allow, tt.allow)
			}
		})
	}
}

func TestAddErrors(t *testing.T) {
	tests := []struct {
		name  string
		first *Spec
		spec  Spec
		want  string
	}{
		{name: "relative", spec: Spec{Path: "v1"}, want: "must start with /"},
		{name: "empty segment", spec: Spec{Path: "/v1//a"}, want: `empty segment in "/v1//a"`},
		{name: "dot segment", spec: Spec{Path: "/v1/../a"}, want: `dot-segment in "/v1/../a"`},
		{name: "partial param", spec: Spec{Path: "/v1/acc{id}"}, want: `invalid segment "acc{id}" (parameters are whole segments like {id})`},
		{name: "bad param name", spec: Spec{Path: "/v1/{1d}"}, want: `invalid parameter name "1d"`},
		{name: "duplicate param", spec: Spec{Path: "/v1/{id}/{id}"}, want: `duplicate parameter "id"`},
		{name: "conflict", first: &Spec{Path: "/v1/a", Methods: []string{"GET"}}, spec: Spec{Path: "/v1/a", Methods: []string{"GET"}}, want: `GET matches the same requests as route "first"`},
		{name: "lower-case method", spec: Spec{Path: "/v1/a", Methods: []string{"post"}}, want: `method "post" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`},
		{name: "TRACE", spec: Spec{Path: "/v1/a", Methods: []string{"TRACE"}}, want: `method "TRACE" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`},
		{name: "conflict param names differ", first: &Spec{Path: "/v1/{a}"}, spec: Spec{Path: "/v1/{b}"}, want: `matches the same requests as route "first"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New[string]()
			if tt.first != nil {
				if err := r.Add(*tt.first, "first", "first"); err != nil {
					t.Fatal(err)
				}
			}
			err := r.Add(tt.spec, "second", "second")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// BenchmarkMatch shows lookup cost does not grow with the route count.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 10000} {
		r := New[int]()
		for i := 0; i < n; i++ {
			_ = r.Add(Spec{Path: fmt.Sprintf("/v1/svc%d/items/{id}", i), Methods: []string{"GET"}}, fmt.Sprint(i), i)
		}
		path := fmt.Sprintf("/v1/svc%d/items/42", n/2)
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if r.Match("api.example.com", path, "GET").Status != Found {
					b.Fatal("no match")
				}
			}
		})
	}
}
