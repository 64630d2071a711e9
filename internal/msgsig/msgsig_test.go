package msgsig

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/httpsig"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/problem"
)

func TestLoadSigningKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(p256)
	cases := []struct {
		name, path string
		alg        httpsig.Algorithm
		err        string
	}{
		{"ed25519", write("ed.pem", pkcs8(ed)), httpsig.AlgEd25519, ""},
		{"p-256", write("p256.pem", pkcs8(p256)), httpsig.AlgECDSAP256SHA256, ""},
		{"p-384", write("p384.pem", pkcs8(p384)), "", "must be Ed25519, ECDSA P-256 or RSA"},
		{"SEC 1, not PKCS#8", write("sec1.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER})), "", "PKCS#8"},
		{"not PEM", write("junk.pem", []byte("junk")), "", "PKCS#8"},
		{"missing", filepath.Join(dir, "nope.pem"), "", "cannot read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := LoadSigningKey(tc.path, "gw-1")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || k.Alg != tc.alg || k.KeyID != "gw-1" {
				t.Fatalf("key = %+v, %v", k, err)
			}
		})
	}
}

// A component whose header the message lacks is left out of what the
// gateway signs; derived components always stay.
func TestPresent(t *testing.T) {
	h := http.Header{"Content-Type": {"application/json"}, "X-Consumer-Id": {"c1"}}
	got := present([]string{"@method", "@path", "content-type", "forwarded", "x-consumer-id"}, h)
	if strings.Join(got, " ") != "@method @path content-type x-consumer-id" {
		t.Fatalf("present = %v", got)
	}
}

// A key store that cannot answer is the gateway's failure (503), never a
// client's (401), whatever the verifier wraps it in.
func TestFailedMapsUnavailable(t *testing.T) {
	s := &Verify{route: "r", rt: &Runtime{}}
	wrapped := &httpsig.Error{Kind: httpsig.ErrUnknownKey, Err: errors.Join(keys.ErrSigningKeysUnavailable, context.DeadlineExceeded)}
	if pe := problem.From(s.failed(wrapped)); pe.Status != 503 || pe.Type != "signature-unavailable" {
		t.Fatalf("key store down: %+v", pe)
	}
	if pe := problem.From(s.failed(&httpsig.Error{Kind: httpsig.ErrUnknownKey, Err: keys.ErrNoSigningKey})); pe.Status != 401 || pe.Type != "signature-invalid" {
		t.Fatalf("unknown key: %+v", pe)
	}
}
