package jwt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/authn/certbind"
	"github.com/portcullis/portcullis/internal/authn/jwt"
	"github.com/portcullis/portcullis/internal/authn/sender"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/testissuer"
	"github.com/portcullis/portcullis/internal/tokencache"
)

// The verified-token cache remembers a token's verdict, never a request's
// proof or certificate: a token verified once with its proof or its
// certificate is refused on a cache hit that comes with another key, as
// Bearer, or without the certificate.
func TestBindingIsCheckedOnCacheHits(t *testing.T) {
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, is.JWKS(), 0o600); err != nil {
		t.Fatal(err)
	}
	store, _ := sharedstate.NewMemory(100, sharedstate.MemoryOptions{})
	d := config.WithDefaults(config.DPoPAuth{})
	pol, err := sender.New(sender.Options{DPoP: &d, Replay: store})
	if err != nil {
		t.Fatal(err)
	}
	cache := tokencache.New(0, nil)
	cfg := config.WithDefaults(config.JWTAuth{Issuers: []config.JWTIssuer{{Issuer: is.URL(), Audiences: []string{"api"}, JWKSFile: jwksFile}}})
	a, err := jwt.New("bound", cfg, jwt.Deps{Cache: cache, Sender: pol})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := testissuer.NewDPoPKey("ES256")
	thief, _ := testissuer.NewDPoPKey("ES256")
	cert, der := clientCert(t)
	const uri = "https://api.example.com/accounts"
	keyTok := is.SignWith(is.KidFor("ES256"), key.Bind(is.Claims("api", "c1", "", time.Now(), time.Hour)), nil)
	certClaims := is.Claims("api", "c1", "", time.Now(), time.Hour)
	certClaims["cnf"] = map[string]any{"x5t#S256": certbind.Thumbprint(der)}
	certTok := is.SignWith(is.KidFor("ES256"), certClaims, nil)

	tests := []struct {
		name     string
		req      func() *http.Request
		wantCode string // "" for success
	}{
		{"DPoP token with its proof (verified, cached)", func() *http.Request {
			return dpopRequest(uri, keyTok, key.Proof("GET", uri, keyTok, time.Now()))
		}, ""},
		{"cache hit, proof by another key", func() *http.Request {
			return dpopRequest(uri, keyTok, thief.Proof("GET", uri, keyTok, time.Now()))
		}, "invalid_token"},
		{"cache hit, as Bearer", func() *http.Request { return bearerRequest(uri, keyTok, nil) }, "invalid_token"},
		{"cache hit, without a proof", func() *http.Request { return dpopRequest(uri, keyTok, "") }, "invalid_dpop_proof"},
		{"certificate-bound token with its certificate (verified, cached)", func() *http.Request {
			return bearerRequest(uri, certTok, cert)
		}, ""},
		{"cache hit, no certificate", func() *http.Request { return bearerRequest(uri, certTok, nil) }, "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Authenticate(tt.req())
			var ue *authn.Unauthenticated
			switch {
			case tt.wantCode == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantCode != "" && (!errors.As(err, &ue) || ue.Code != tt.wantCode):
				t.Fatalf("err = %v, want %s", err, tt.wantCode)
			}
		})
	}
	if n := cache.Len(); n != 2 {
		t.Fatalf("cache holds %d tokens, want 2 (every refusal above was a cache hit)", n)
	}
}

func dpopRequest(uri, tok, proof string) *http.Request {
	r := httptest.NewRequest("GET", uri, nil)
	r.Header.Set("Authorization", "DPoP "+tok)
	if proof != "" {
		r.Header.Set("DPoP", proof)
	}
	return r
}

func bearerRequest(uri, tok string, cert *x509.Certificate) *http.Request {
	r := httptest.NewRequest("GET", uri, nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	if cert != nil {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{cert}}
	}
	return r
}

func clientCert(t *testing.T) (*x509.Certificate, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "c1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, der
}
