package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
)

// The forwarder's own exchange keeps the HTTP rules of a reverse proxy
// (RFC 9110 §7.6, RFC 9112): these are the cases of net/http/httputil's
// ReverseProxy tests that apply to a gateway, written as requests through
// the real TLS listener over HTTP/1.1 and HTTP/2.

func TestExchangeRequestRules(t *testing.T) {
	e := gatewaytest.NewEnv(t)
	g := e.Start(t, requestConfig(e), gateway.Deps{Keys: fakeKeys{}})
	tests := []struct {
		name      string
		h1Only    string
		target    string
		header    http.Header
		want      map[string]string
		absent    []string
		wantQuery string
	}{
		{
			name:   "hop-by-hop fields and those Connection names stay on the client's connection",
			h1Only: "HTTP/2 has no connection-specific fields (RFC 9113 §8.2.2)",
			target: "/open/a",
			header: header("Connection", "X-Hop, keep-alive", "X-Hop", "1", "Keep-Alive", "timeout=5",
				"Proxy-Connection", "keep-alive", "X-Kept", "2"),
			want:   map[string]string{"X-Kept": "2"},
			absent: []string{"Connection", "X-Hop", "Keep-Alive", "Proxy-Connection"},
		},
		{
			name:   "TE: trailers is forwarded",
			target: "/open/a",
			header: header("TE", "trailers"),
			want:   map[string]string{"Te": "trailers"},
		},
		{
			name:   "any other TE is the client's hop",
			h1Only: "HTTP/2 allows only TE: trailers (RFC 9113 §8.2.2)",
			target: "/open/a",
			header: header("TE", "gzip, deflate"),
			absent: []string{"Te"},
		},
		{
			name:   "TE with trailers among others forwards trailers alone",
			h1Only: "HTTP/2 allows only TE: trailers (RFC 9113 §8.2.2)",
			target: "/open/a",
			header: header("TE", "gzip, trailers"),
			want:   map[string]string{"Te": "trailers"},
		},
		{
			name:   "a request without User-Agent reaches the upstream without one",
			target: "/open/a",
			header: header("User-Agent", ""),
			absent: []string{"User-Agent"},
		},
		{
			name:   "the client's User-Agent is relayed",
			target: "/open/a",
			header: header("User-Agent", "bank-app/7.1"),
			want:   map[string]string{"User-Agent": "bank-app/7.1"},
		},
		{
			name:      "parameters a server could split on ';' are dropped",
			target:    "/open/a?a=1;b=2&c=3",
			wantQuery: "c=3",
		},
		{
			name:   "an h2c upgrade is never forwarded",
			h1Only: "HTTP/2 has no Upgrade",
			target: "/open/a",
			header: header("Connection", "Upgrade, HTTP2-Settings", "Upgrade", "h2c", "HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"),
			absent: []string{"Upgrade", "Http2-Settings", "Connection"},
		},
	}
	for _, p := range protos(e) {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				if tt.h1Only != "" && p.major != 1 {
					t.Skip(tt.h1Only)
				}
				req, _ := http.NewRequest(http.MethodGet, g.URL+tt.target, nil)
				for k, vs := range tt.header {
					req.Header[k] = vs
				}
				got := do(t, p, req)
				if got.Status != 200 {
					t.Fatalf("status %d: %s", got.Status, got.Body)
				}
				echo := got.Echo(t)
				for k, v := range tt.want {
					if vals := echo.Headers[k]; len(vals) != 1 || vals[0] != v {
						t.Errorf("upstream %s = %q, want %q (received %v)", k, vals, v, echoKeys(echo))
					}
				}
				for _, k := range tt.absent {
					if vals, ok := echo.Headers[k]; ok {
						t.Errorf("upstream received %s: %q", k, vals)
					}
				}
				if echo.Query != tt.wantQuery {
					t.Errorf("upstream query = %q, want %q", echo.Query, tt.wantQuery)
				}
			})
		}
	}
}

// exchangeUpstream answers the response-side cases.
func exchangeUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch strings.TrimPrefix(r.URL.Path, "/r/") {
		case "hop":
			h.Set("Connection", "X-Secret")
			h.Set("X-Secret", "internal")
			h.Set("Keep-Alive", "timeout=5")
			h.Set("Proxy-Authenticate", "Basic realm=internal")
			h.Set("X-Kept", "1")
			_, _ = io.WriteString(w, "ok")
		case "trailers":
			h.Set("Trailer", "X-Checksum")
			_, _ = io.WriteString(w, "body")
			h.Set("X-Checksum", "c1")
			h.Set(http.TrailerPrefix+"X-Late", "l1")
		case "head":
			h.Set("Content-Length", "42")
			h.Set("Content-Type", "text/plain")
		case "abort":
			h.Set("Content-Length", "100")
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush() // the header is out: only the body can break
			panic(http.ErrAbortHandler)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestExchangeResponseRules(t *testing.T) {
	up := exchangeUpstream(t)
	e := gatewaytest.NewEnv(t)
	g := e.Start(t, onTLS(e, `upstreams:
  - name: up
    targets: ["`+up.URL+`"]
routes:
  - name: relayed
    prefix: /r
    upstream: up
    auth: none
`), gateway.Deps{})
	for _, p := range protos(e) {
		t.Run(p.name+"/hop-by-hop response fields are not relayed", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, g.URL+"/r/hop", nil)
			got := do(t, p, req)
			if got.Status != 200 || string(got.Body) != "ok" || got.Header.Get("X-Kept") != "1" {
				t.Fatalf("got %d %q %v", got.Status, got.Body, got.Header)
			}
			for _, k := range []string{"X-Secret", "Keep-Alive", "Proxy-Authenticate"} {
				if v := got.Header.Values(k); len(v) > 0 {
					t.Errorf("client received %s: %q", k, v)
				}
			}
		})
		t.Run(p.name+"/trailers, announced and not, reach the client", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, g.URL+"/r/trailers", nil)
			resp, err := p.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "body" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			if a, b := resp.Trailer.Get("X-Checksum"), resp.Trailer.Get("X-Late"); a != "c1" || b != "l1" {
				t.Errorf("trailers X-Checksum=%q X-Late=%q, want c1 l1 (all: %v)", a, b, resp.Trailer)
			}
		})
		t.Run(p.name+"/HEAD keeps the upstream's Content-Length and sends no body", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodHead, g.URL+"/r/head", nil)
			got := do(t, p, req)
			if got.Status != 200 || len(got.Body) != 0 || got.Header.Get("Content-Length") != "42" {
				t.Fatalf("got %d %q Content-Length %q", got.Status, got.Body, got.Header.Get("Content-Length"))
			}
		})
		t.Run(p.name+"/an upstream that breaks off mid-body breaks the client's response", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, g.URL+"/r/abort", nil)
			resp, err := p.client.Do(req)
			if err != nil {
				return // the gateway had not sent the header yet: broken all the same
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err == nil {
				t.Fatalf("read %q without error: a truncated body looked complete", body)
			}
		})
	}
}

// An upstream with protocol h2c is spoken to in HTTP/2 without TLS (prior
// knowledge), whatever the client speaks; http1 never upgrades.
func TestUpstreamProtocol(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		_, _ = io.WriteString(w, r.Proto+" "+r.Header.Get("Te"))
		w.Header().Set("X-Sum", "s")
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	e := gatewaytest.NewEnv(t)
	g := e.Start(t, onTLS(e, `upstreams:
  - name: h2c
    targets: ["`+srv.URL+`"]
    protocol: h2c
  - name: h1
    targets: ["`+srv.URL+`"]
    protocol: http1
routes:
  - {name: h2c, prefix: /h2c, upstream: h2c, auth: none}
  - {name: h1, prefix: /h1, upstream: h1, auth: none}
`), gateway.Deps{})
	for _, p := range protos(e) {
		for _, tt := range []struct{ path, want string }{{"/h2c/a", "HTTP/2.0 trailers"}, {"/h1/a", "HTTP/1.1 trailers"}} {
			t.Run(p.name+tt.path, func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodGet, g.URL+tt.path, nil)
				req.Header.Set("TE", "trailers")
				resp, err := p.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || string(body) != tt.want || resp.Trailer.Get("X-Sum") != "s" {
					t.Fatalf("got %d %q trailer %v, want 200 %q with X-Sum", resp.StatusCode, body, resp.Trailer, tt.want)
				}
			})
		}
	}
}
