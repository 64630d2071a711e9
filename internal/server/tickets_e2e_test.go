package server_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"testing"
)

// A TLS session resumes across a configuration reload (SIGHUP or file
// change): the listener's session-ticket keys belong to its TLS server,
// which reloads keep, over HTTP/1.1 and HTTP/2.
func TestSessionResumesAcrossReload(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, framingConfig, map[string]string{"UP": up.URL})
	for _, p := range protos {
		t.Run(p.name, func(t *testing.T) {
			cache := tls.NewLRUClientSessionCache(4)
			get := func() *http.Response {
				t.Helper()
				c := p.client(t, g.ca.Pool())
				tr := c.Transport.(*http.Transport)
				tr.TLSClientConfig.ClientSessionCache = cache
				tr.DisableKeepAlives = true // a new handshake every time
				resp, err := c.Get(g.base + "/v1/accounts")
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				p.checkProto(t, resp)
				return resp
			}
			if get().TLS.DidResume {
				t.Fatal("first connection resumed")
			}
			if err := g.srv.ReloadFile(); err != nil {
				t.Fatal(err)
			}
			if resp := get(); resp.StatusCode != 200 || !resp.TLS.DidResume {
				t.Fatalf("after a reload: status %d, resumed %v", resp.StatusCode, resp.TLS.DidResume)
			}
		})
	}
}
