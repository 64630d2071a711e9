package server_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/pki"
)

const (
	allMethods         = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
	problem405         = `{"type":"https://portcullis.dev/problems/method-not-allowed","title":"Method Not Allowed","status":405,"detail":"The route does not accept this method.","request_id":"RID"}`
	problemInvalidPath = `{"type":"https://portcullis.dev/problems/invalid-path","title":"Bad Request","status":400,"detail":"The request path is malformed or not allowed.","request_id":"RID"}`
)

// Per-method authorisation cannot be side-stepped by spelling a method
// differently: methods are case-sensitive tokens, so on a route without
// methods: "post", "Post" and "delete" are not POST and DELETE (which need
// payments:write here) but unknown methods, answered 405 before
// authentication; upstreams that upper-case methods never see them.
func TestMethodCaseCannotBypassMethodAuthorisation(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	up := newUpstream(t, nil)
	env.Upstream = up.URL
	leaf, err := env.CA.Issue(pki.LeafOptions{CommonName: "partner-a", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	gw := env.Start(t, env.Base("optional")+`
authenticators:
  - name: partners
    mtls:
      common_names: [partner-a]
      scopes: [ledger:read]
routes:
  - name: ledger
    prefix: /v1/ledger
    upstream: echo
    auth:
      authenticators: [partners]
      require:
        scopes: {all_of: [ledger:read]}
      methods:
        POST: {scopes: {all_of: [payments:write]}}
        DELETE: {scopes: {all_of: [payments:write]}}
`, gateway.Deps{})
	tests := []struct {
		method   string
		status   int
		allow    string
		wantBody string
		reaches  bool
	}{
		{method: "GET", status: 200, reaches: true},
		{method: "POST", status: 403},
		{method: "DELETE", status: 403},
		{method: "post", status: 405, allow: allMethods, wantBody: problem405},
		{method: "Post", status: 405, allow: allMethods, wantBody: problem405},
		{method: "delete", status: 405, allow: allMethods, wantBody: problem405},
		{method: "dElEtE", status: 405, allow: allMethods, wantBody: problem405},
		{method: "PROPFIND", status: 405, allow: allMethods, wantBody: problem405},
	}
	for _, p := range protos {
		c := p.client(t, env.CA.Pool(), leaf.TLS)
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.method, func(t *testing.T) {
				before := up.hits.Load()
				req, _ := http.NewRequest(tt.method, gw.URL+"/v1/ledger/entries", nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				p.checkProto(t, resp)
				if resp.StatusCode != tt.status {
					t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
				}
				if got := resp.Header.Get("Allow"); got != tt.allow {
					t.Errorf("Allow = %q, want %q", got, tt.allow)
				}
				if tt.wantBody != "" {
					want := strings.ReplaceAll(tt.wantBody, "RID", resp.Header.Get("X-Request-Id"))
					if strings.TrimSpace(string(body)) != want {
						t.Errorf("body = %s\nwant   %s", body, want)
					}
				}
				if reached := up.hits.Load() > before; reached != tt.reaches {
					t.Errorf("reached upstream = %v, want %v", reached, tt.reaches)
				}
			})
		}
	}
}

// docs/configuration.md promises that TRACE and CONNECT are never proxied: on a route
// that names no methods they get 405 with Allow (or, for CONNECT in
// authority form, which has no path, 400), and the upstream never sees them.
func TestTraceAndConnectAreNeverProxied(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	up := newUpstream(t, nil)
	env.Upstream = up.URL
	gw := env.Start(t, env.Base("none")+`
routes:
  - name: everything
    prefix: /
    upstream: echo
    auth: none
`, gateway.Deps{})
	host := strings.TrimPrefix(gw.URL, "https://")

	t.Run("clients", func(t *testing.T) {
		for _, p := range protos {
			c := p.client(t, env.CA.Pool())
			for _, method := range []string{"TRACE", "trace", "CONNECT"} {
				t.Run(p.name+"/"+method, func(t *testing.T) {
					before := up.hits.Load()
					req, _ := http.NewRequest(method, gw.URL+"/v1/anything", nil)
					resp, err := c.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					p.checkProto(t, resp)
					status, allow, want := 405, allMethods, problem405
					if method == "CONNECT" && p.major == 2 {
						// Go's HTTP/2 client sends CONNECT with :authority
						// only: there is no path to route.
						status, allow, want = 400, "", problemInvalidPath
					}
					if resp.StatusCode != status || resp.Header.Get("Allow") != allow {
						t.Fatalf("got %d Allow %q, want %d Allow %q; body %s", resp.StatusCode, resp.Header.Get("Allow"), status, allow, body)
					}
					if got, want := strings.TrimSpace(string(body)), strings.ReplaceAll(want, "RID", resp.Header.Get("X-Request-Id")); got != want {
						t.Errorf("body = %s\nwant   %s", got, want)
					}
					if up.hits.Load() != before {
						t.Error("the upstream received the request")
					}
				})
			}
		}
	})

	// Raw HTTP/1.1, for the request forms a client library does not send.
	raw := []struct{ name, request, status string }{
		{"TRACE origin form", "TRACE /v1/anything HTTP/1.1\r\nHost: " + host + "\r\nMax-Forwards: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"},
		{"CONNECT origin form", "CONNECT /v1/anything HTTP/1.1\r\nHost: " + host + "\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"},
		{"CONNECT authority form", "CONNECT upstream.internal:443 HTTP/1.1\r\nHost: upstream.internal:443\r\n\r\n", "HTTP/1.1 400 Bad Request"},
	}
	for _, tt := range raw {
		t.Run("raw/"+tt.name, func(t *testing.T) {
			before := up.hits.Load()
			conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: env.CA.Pool(), NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tt.request); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Proto + " " + resp.Status; got != tt.status {
				t.Fatalf("status line %q, want %q", got, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if up.hits.Load() != before {
				t.Error("the upstream received the request")
			}
		})
	}
}
