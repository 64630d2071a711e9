package certbind

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/pki"
)

var (
	certsOnce sync.Once
	certA     *pki.Leaf
	certB     *pki.Leaf
)

// testCerts returns two real client certificates from a throwaway CA; the
// first has a '+' in its PEM, so unescaping it as a query value (which
// turns '+' into a space) would break it.
func testCerts(t testing.TB) (a, b *pki.Leaf) {
	t.Helper()
	certsOnce.Do(func() {
		ca, err := pki.NewCA("test CA", time.Hour)
		if err != nil {
			panic(err)
		}
		issue := func(cn string) *pki.Leaf {
			l, err := ca.Issue(pki.LeafOptions{CommonName: cn, Client: true, URIs: []string{"spiffe://example/" + cn}})
			if err != nil {
				panic(err)
			}
			return l
		}
		for i := 0; certA == nil || !strings.Contains(string(certA.CertPEM), "+"); i++ {
			if i == 100 {
				panic("no certificate with a '+' in its PEM")
			}
			certA = issue("client-a")
		}
		certB = issue("client-b")
	})
	return certA, certB
}

// escapeAll percent-encodes every byte but unreserved ones, as nginx's
// $ssl_client_escaped_cert does.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

// escapeMinimal percent-encodes only what a header value cannot hold raw
// (newlines) and the XFCC separators, leaving '+', '/' and '=' raw.
func escapeMinimal(s string) string {
	return strings.NewReplacer("\n", "%0A", "%", "%25", ",", "%2C", ";", "%3B", " ", "%20").Replace(s)
}

func sumHex(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

func TestThumbprint(t *testing.T) {
	a, _ := testCerts(t)
	sum := sha256.Sum256(a.Cert.Raw)
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if got := Thumbprint(a.Cert.Raw); got != want || len(got) != 43 || strings.ContainsAny(got, "+/=") {
		t.Fatalf("Thumbprint = %s, want %s", got, want)
	}
	cc, err := FromTLS(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{a.Cert}})
	if err != nil || cc.Thumbprint != want || cc.Cert != a.Cert {
		t.Fatalf("FromTLS = %+v, %v", cc, err)
	}
	for _, cs := range []*tls.ConnectionState{nil, {}} {
		if _, err := FromTLS(cs); !errors.Is(err, ErrNoCertificate) {
			t.Fatalf("FromTLS(%v) err = %v", cs, err)
		}
	}
}

// TestCheck: the token's cnf["x5t#S256"] must be the request's certificate.
func TestCheck(t *testing.T) {
	a, b := testCerts(t)
	ca := &ClientCert{Thumbprint: Thumbprint(a.Cert.Raw), Cert: a.Cert}
	tpA := ca.Thumbprint
	stdA := base64.StdEncoding.EncodeToString(func() []byte { s := sha256.Sum256(a.Cert.Raw); return s[:] }())
	tests := []struct {
		name   string
		cnf    any
		cert   *ClientCert
		reason string // "" for bound
	}{
		{name: "match", cnf: map[string]any{CnfMember: tpA}, cert: ca},
		{name: "match, hash-only certificate", cnf: map[string]any{CnfMember: tpA}, cert: &ClientCert{Thumbprint: tpA}},
		{name: "another certificate", cnf: map[string]any{CnfMember: Thumbprint(b.Cert.Raw)}, cert: ca, reason: "not the client certificate"},
		{name: "standard base64 of the right hash", cnf: map[string]any{CnfMember: stdA}, cert: ca, reason: "not the client certificate"},
		{name: "hex of the right hash", cnf: map[string]any{CnfMember: sumHex(a.Cert.Raw)}, cert: ca, reason: "not the client certificate"},
		{name: "truncated", cnf: map[string]any{CnfMember: tpA[:42]}, cert: ca, reason: "not the client certificate"},
		{name: "jkt only (a DPoP-bound token)", cnf: map[string]any{"jkt": tpA}, cert: ca, reason: "no cnf.x5t#S256"},
		{name: "no cnf (a bearer token)", cnf: nil, cert: ca, reason: "no cnf.x5t#S256"},
		{name: "thumbprint not a string", cnf: map[string]any{CnfMember: 1}, cert: ca, reason: "no cnf.x5t#S256"},
		{name: "no certificate", cnf: map[string]any{CnfMember: tpA}, reason: "no client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.cnf, tt.cert)
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ue *authn.Unauthenticated
			if !errors.As(err, &ue) || ue.Code != "invalid_token" || ue.Description != descNotBound || !strings.Contains(ue.Reason, tt.reason) {
				t.Fatalf("err = %#v, want invalid_token %q", err, tt.reason)
			}
		})
	}
}
