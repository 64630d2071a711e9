package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"
)

// httpVersion is one HTTP version a client can speak to the gateway.
type httpVersion struct {
	name string
	// major is what Response.ProtoMajor must be.
	major int
}

// protos are the versions every case that applies to both runs over.
var protos = []httpVersion{{"HTTP/1.1", 1}, {"HTTP/2", 2}}

// client returns an HTTP client trusting pool that speaks only p, with
// certs as client certificates. Redirects are not followed.
func (p httpVersion) client(t testing.TB, pool *x509.CertPool, certs ...tls.Certificate) *http.Client {
	t.Helper()
	var ps http.Protocols
	if p.major == 2 {
		ps.SetHTTP2(true)
	} else {
		ps.SetHTTP1(true)
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs, MinVersion: tls.VersionTLS12},
		Protocols:       &ps,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport: tr,
		Timeout:   10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// checkProto fails t unless resp came over p.
func (p httpVersion) checkProto(t testing.TB, resp *http.Response) {
	t.Helper()
	if resp.ProtoMajor != p.major {
		t.Fatalf("response over %s, want %s", resp.Proto, p.name)
	}
}
