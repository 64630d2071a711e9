package proxy

import (
	"net/http"
	"net/url"
	"testing"
)

func TestRewriteLocations(t *testing.T) {
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	origins := originsOf([]*Target{newTarget(mustURL("http://10.0.3.7:8080")), newTarget(mustURL("https://API.internal/base/"))})
	tests := []struct {
		name, in, want string // want "": the header is dropped
	}{
		{"relative kept", "/v1/next?x=1", "/v1/next?x=1"},
		{"other host kept", "https://login.example.com/cb", "https://login.example.com/cb"},
		{"target made relative", "http://10.0.3.7:8080/v1/next?x=1#f", "/v1/next?x=1#f"},
		{"target without path", "http://10.0.3.7:8080", "/"},
		{"target scheme-relative", "//10.0.3.7:8080/a", "/a"},
		{"target host in another case, default port", "https://api.INTERNAL:443/base/v1", "/v1"},
		{"target default port written out", "https://api.internal/base", "/"},
		{"same host, other port kept", "http://10.0.3.7:9090/a", "http://10.0.3.7:9090/a"},
		{"outside the base path dropped", "https://api.internal/admin", ""},
		{"prefix of the base path is not under it", "https://api.internal/basement", ""},
		{"leading slashes never name a host", "http://10.0.3.7:8080//evil.example/x", "/evil.example/x"},
		{"credentials in the URL are not kept", "http://user:pw@10.0.3.7:8080/a", "/a"},
		{"empty query kept", "http://10.0.3.7:8080/a?", "/a?"},
		{"unparsable dropped", "http://10.0.3.7:8080/%zz", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Location": {tt.in}, "Content-Location": {tt.in}}
			rewriteLocations(h, origins)
			for _, k := range locationHeaders {
				got, ok := h[k]
				switch {
				case tt.want == "" && ok:
					t.Errorf("%s = %q, want it dropped", k, got)
				case tt.want != "" && (len(got) != 1 || got[0] != tt.want):
					t.Errorf("%s = %q, want %q", k, got, tt.want)
				}
			}
		})
	}
}

func TestHeaderSetMatchesAnyCase(t *testing.T) {
	s := newHeaderSet([]string{"X-AspNet-Version", "X-Backend-*"})
	for name, want := range map[string]bool{
		"X-Aspnet-Version": true, "x-aspnet-version": true, "X-AspNet-Version": true,
		"X-Backend-Server": true, "x-backend-id": true, "X-Backend": false, "X-Aspnet-Versions": false,
	} {
		if got := s.has(name); got != want {
			t.Errorf("has(%q) = %v, want %v", name, got, want)
		}
	}
}
