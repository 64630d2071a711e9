package authn

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/principal"
)

// keyAuth is an api_key-like authenticator for the carrier lists.
type keyAuth struct{ header, query string }

func (keyAuth) Name() string         { return "keys" }
func (keyAuth) Challenge() Challenge { return Challenge{Scheme: "ApiKey"} }
func (keyAuth) Authenticate(*http.Request) (*principal.Principal, error) {
	return nil, ErrNotApplicable
}
func (k keyAuth) CredentialHeader() string     { return k.header }
func (k keyAuth) CredentialQueryParam() string { return k.query }

// What reaches the upstream of the credentials a request carried, for
// each way it was authenticated: only the verified one, if any.
func TestOutboundKeepsOnlyTheVerifiedCredential(t *testing.T) {
	ids := config.IdentityHeaders{ConsumerID: "X-Consumer-Id", Method: "X-Auth-Method"}
	hook := keyAuth{header: "X-Api-Key", query: "key"}
	other := keyAuth{header: "X-Partner-Key"}
	all := map[string]Authenticator{"hook": hook, "other": other}
	routeAuth := &config.RouteAuth{Authenticators: []string{"jwt", "hook"}, AllowCookieToken: "tok"}
	stripping := &config.RouteAuth{Authenticators: []string{"jwt"}, StripToken: true}
	bearer := "Bearer a.b.c"
	tests := []struct {
		name      string
		route     *config.RouteAuth
		method    principal.Method // "": nobody authenticated
		header    http.Header
		query     string
		wantAuth  string
		wantQuery string
		wantCook  string
	}{
		{name: "jwt from the header is relayed", route: routeAuth, method: principal.MethodJWT,
			header: http.Header{"Authorization": {bearer}}, wantAuth: bearer},
		{name: "jwt relayed, strip_token", route: stripping, method: principal.MethodJWT,
			header: http.Header{"Authorization": {bearer}}},
		{name: "jwt from a cookie: a Basic header is not what was verified", route: routeAuth,
			method: principal.MethodJWT, header: http.Header{"Authorization": {"Basic YTpi"}, "Cookie": {"tok=a.b.c; theme=dark"}},
			wantCook: "theme=dark"},
		{name: "api key: forged bearer, access_token and cookie token removed", route: routeAuth,
			method: principal.MethodAPIKey, header: http.Header{"Authorization": {bearer}, "Cookie": {"tok=x"}},
			query: "a=1&access_token=x&key=y&b=2", wantQuery: "a=1&b=2"},
		{name: "mtls: Authorization removed", route: routeAuth, method: principal.MethodMTLS,
			header: http.Header{"Authorization": {bearer}}},
		{name: "percent-encoded access_token removed", route: routeAuth, method: principal.MethodAPIKey,
			query: "access%5Ftoken=x&a=%20", wantQuery: "a=%20"},
		{name: "auth none: Authorization and query are the upstream's", route: &config.RouteAuth{None: true},
			header: http.Header{"Authorization": {"Basic YTpi"}}, query: "access_token=x", wantAuth: "Basic YTpi",
			wantQuery: "access_token=x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var routeAuths []Authenticator
			if !tt.route.None {
				routeAuths = []Authenticator{hook}
			}
			o := NewOutbound(ids, tt.route, routeAuths, all)
			h := tt.header.Clone()
			if h == nil {
				h = http.Header{}
			}
			h["X-Api-Key"] = []string{"pcl_x"}
			h["X-Partner-Key"] = []string{"pcl_y"}
			h["X-Consumer-Id"] = []string{"forged"}
			out := &http.Request{Header: h, URL: &url.URL{RawQuery: tt.query}}
			var p *principal.Principal
			if tt.method != "" {
				p = &principal.Principal{ConsumerID: "acme", Method: tt.method}
			}
			o.Assert(out, p)
			if got := strings.Join(h["Authorization"], ","); got != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
			if out.URL.RawQuery != tt.wantQuery {
				t.Errorf("query = %q, want %q", out.URL.RawQuery, tt.wantQuery)
			}
			if got := strings.Join(h["Cookie"], ","); got != tt.wantCook {
				t.Errorf("Cookie = %q, want %q", got, tt.wantCook)
			}
			for _, k := range []string{"X-Api-Key", "X-Partner-Key"} {
				if v, ok := h[k]; ok {
					t.Errorf("%s = %q: Portcullis keys never leave", k, v)
				}
			}
			wantID := ""
			if p != nil {
				wantID = "acme"
			}
			if got := strings.Join(h["X-Consumer-Id"], ","); got != wantID {
				t.Errorf("X-Consumer-Id = %q, want %q", got, wantID)
			}
		})
	}
}
