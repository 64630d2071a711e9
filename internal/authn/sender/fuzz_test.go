package sender

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/authn/dpop"
)

// FuzzProofKey feeds arbitrary DPoP headers to the unverified look at the
// proof's key that decides whether a proof may take room in the replay
// store. It must never panic, and may say "the token's key" only for a
// header whose jwk is that key.
func FuzzProofKey(f *testing.F) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	jwk, _ := (&jose.JSONWebKey{Key: k.Public()}).MarshalJSON()
	jkt, _ := dpop.Thumbprint(k.Public())
	enc := base64.RawURLEncoding.EncodeToString
	f.Add(enc([]byte(`{"typ":"dpop+jwt","alg":"ES256","jwk":`+string(jwk)+`}`)) + ".e30.sig")
	f.Add(enc([]byte(`{"jwk":{"kty":"oct","k":"AAAA"}}`)) + "..")
	f.Add(enc([]byte(`{"jwk":`+string(jwk)+`,"jwk":{"kty":"EC"}}`)) + ".x.y")
	f.Add("not-a-proof")
	f.Fuzz(func(t *testing.T, proof string) {
		r := httptest.NewRequest("GET", "https://api.example.com/", nil)
		r.Header["Dpop"] = []string{proof}
		if !proofKeyIs(r, jkt, 0) {
			return
		}
		hdr, _, _ := strings.Cut(proof, ".")
		raw, err := base64.RawURLEncoding.DecodeString(hdr)
		if err != nil || !strings.Contains(string(raw), `"jwk"`) {
			t.Fatalf("%q matched the key without a jwk", proof)
		}
	})
}
