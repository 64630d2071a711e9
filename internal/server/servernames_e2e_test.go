package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/server"
)

const problem421 = `{"type":"https://portcullis.dev/problems/misdirected-request","title":"Misdirected Request","status":421,"detail":"This listener does not serve the requested host.","request_id":"RID"}`

// A listener with server_names serves only those hosts: a request for any
// other Host (HTTP/2 :authority), or for a Host other than the TLS server
// name the connection was set up for, gets 421 problem+json and never
// reaches a route (nor the upstream as X-Forwarded-Host).
func TestServerNames(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	up := newUpstream(t, nil)
	env.Upstream = up.URL
	// One certificate for every name, as for a shared or wildcard
	// certificate: the TLS layer alone would accept each of them.
	leaf, err := env.CA.Issue(pki.LeafOptions{CommonName: "gateway", Hosts: []string{
		"api.example.com", "other.example.com", "*.tenants.example.com", "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if env.CertFile, env.KeyFile, err = leaf.WriteFiles(env.Dir, "names"); err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(env.Base("none"), `    address: "127.0.0.1:0"`+"\n",
		`    address: "127.0.0.1:0"`+"\n"+`    server_names: [api.example.com, "*.tenants.example.com"]`+"\n", 1) + `
routes:
  - name: any-host
    prefix: /
    upstream: echo
    auth: none
`
	gw := env.Start(t, yaml, gateway.Deps{})
	addr := strings.TrimPrefix(gw.URL, "https://")
	_, port, _ := net.SplitHostPort(addr)

	tests := []struct {
		name      string
		sni, host string // sni "": none sent (the client connects by IP)
		status    int
	}{
		{"listed host", "api.example.com", "api.example.com:" + port, 200},
		{"listed host without port, other case", "api.example.com", "API.Example.COM", 200},
		{"wildcard", "acme.tenants.example.com", "acme.tenants.example.com:" + port, 200},
		{"listed host, no SNI", "", "api.example.com", 200},
		{"unlisted host, no SNI", "", "evil.example.net", 421},
		{"IP address not listed", "", "127.0.0.1:" + port, 421},
		{"wildcard needs a label", "", "tenants.example.com", 421},
		{"unlisted host the certificate covers", "other.example.com", "other.example.com", 421},
		{"Host differs from SNI (reused connection)", "api.example.com", "acme.tenants.example.com", 421},
		{"SNI of an unlisted name, listed Host", "other.example.com", "api.example.com", 421},
	}
	for _, p := range protos {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				before := up.hits.Load()
				c := p.client(t, env.CA.Pool())
				tr := c.Transport.(*http.Transport)
				tr.TLSClientConfig.ServerName = tt.sni
				if tt.sni == "" {
					tr.TLSClientConfig.ServerName = "127.0.0.1" // verified as an IP SAN, and never sent
				}
				tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				}
				req, _ := http.NewRequest("GET", gw.URL+"/v1/accounts", nil)
				req.Host = tt.host
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
				if resp.Header.Get("X-Request-Id") == "" || resp.Header.Get("Strict-Transport-Security") == "" {
					t.Errorf("headers: %v", resp.Header)
				}
				if tt.status == 421 {
					want := strings.ReplaceAll(problem421, "RID", resp.Header.Get("X-Request-Id"))
					if strings.TrimSpace(string(body)) != want || resp.Header.Get("Content-Type") != "application/problem+json" {
						t.Errorf("body = %s (%s)\nwant   %s", body, resp.Header.Get("Content-Type"), want)
					}
				}
				if reached := up.hits.Load() > before; reached != (tt.status == 200) {
					t.Errorf("reached upstream = %v", reached)
				}
			})
		}
	}
}

// A listener on a non-loopback address without server_names is reported
// at startup: it answers for whatever Host a client sends.
func TestServerNamesStartupWarning(t *testing.T) {
	env := gatewaytest.NewEnv(t)
	tests := []struct {
		name, address, names string
		warns                bool
	}{
		{"public without server_names", "0.0.0.0:0", "", true},
		{"public with server_names", "0.0.0.0:0", "[api.example.com]", false},
		{"loopback without server_names", "127.0.0.1:0", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			listener := `    address: "` + tt.address + `"` + "\n"
			if tt.names != "" {
				listener += "    server_names: " + tt.names + "\n"
			}
			yaml := strings.Replace(env.Base("none"), `    address: "127.0.0.1:0"`+"\n", listener, 1) + `
routes:
  - name: any-host
    prefix: /
    upstream: echo
    auth: none
`
			var logs bytes.Buffer
			srv, err := server.New(gatewaytest.Parse(t, yaml), server.Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			_ = srv.Shutdown(context.Background())
			const msg = "listener accepts requests for any host; set server_names to the hosts it serves (others get 421)"
			if got := strings.Contains(logs.String(), `level=WARN msg="`+msg+`" listener=public address=`+tt.address); got != tt.warns {
				t.Errorf("warning logged = %v, want %v; log:\n%s", got, tt.warns, logs.String())
			}
		})
	}
}
