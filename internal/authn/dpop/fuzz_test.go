package dpop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/authn/claims"
	"github.com/portcullis/portcullis/internal/testenv"
)

// FuzzVerifyRequest feeds arbitrary DPoP header values through the header
// reader, the JWS and JSON parsers and every check. It must never panic,
// every refusal must be a typed *Error (never a replay-store failure: the
// store is not full), and only a seed's signed content may verify: a
// mutation that verifies with other content would be a forgery. The seed
// keys and claims are fixed, so every fuzzing process has the same seeds.
func FuzzVerifyRequest(f *testing.F) {
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	seedKeys := []*testKey{{"ES256", ec}, {"EdDSA", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))}}
	valid := map[string]bool{} // signing inputs of the seeds
	for i, k := range seedKeys {
		s := validSpec(f, k, testNow)
		s.claims["jti"] = "fuzz-seed-" + strconv.Itoa(i)
		p := s.sign(f)
		valid[p[:strings.LastIndexByte(p, '.')]] = true
		f.Add(p)
	}
	bad := validSpec(f, seedKeys[0], testNow)
	bad.hdr["jwk"] = seedKeys[0].privateJWK(f)
	f.Add(bad.sign(f))
	f.Add("a.b.c")
	f.Add(b64(`{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"","y":""}}`) + ".e30.")
	f.Add(b64(`{"typ":"dpop+jwt","alg":"EdDSA","jwk":{"kty":"OKP","crv":"X25519","x":"AA"}}`) + ".e30.AA")
	clock := testenv.NewClock(testNow)
	v := newTestVerifier(f, clock, Options{})
	f.Fuzz(func(t *testing.T, header string) {
		r, _ := http.NewRequest(http.MethodPost, "https://api.example.com/v1/payments", nil)
		r.Header["Dpop"] = []string{header}
		p, err := v.VerifyRequest(r, testURI, testToken)
		if err == nil {
			if !valid[header[:strings.LastIndexByte(header, '.')]] || p.JKT == "" {
				t.Fatalf("a proof that is not a seed verified: %q", header)
			}
			return
		}
		var de *Error
		if !errors.As(err, &de) || de.Code != CodeInvalidProof {
			t.Fatalf("err = %v (%T), want an invalid_dpop_proof *Error", err, err)
		}
		if len(de.Reason) > 200 || (len(header) > 40 && strings.Contains(de.Reason, header[:40])) {
			t.Fatalf("reason echoes the input: %q", de.Reason)
		}
	})
}

// FuzzProofContent fuzzes what is inside a correctly signed proof: the
// header JSON (where the placeholder JWK becomes the signing key's public
// jwk) and the claims JSON, signed with a fixed Ed25519 key. It must never
// panic, refusals must be typed, and an accepted proof must meet every
// rule when read back with the strict decoder.
func FuzzProofContent(f *testing.F) {
	k := &testKey{"EdDSA", ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))}
	jwk := string(must(json.Marshal(k.publicJWK(f))))
	claimsOf := func(extra string) string {
		return `{"jti":"j1","htm":"POST","htu":"` + testURI + `","iat":` + strconv.FormatInt(testNow.Unix(), 10) +
			`,"ath":"` + TokenHash(testToken) + `"` + extra + `}`
	}
	f.Add(`{"typ":"dpop+jwt","alg":"EdDSA","jwk":JWK}`, claimsOf(""))
	f.Add(`{"typ":"dpop+jwt","alg":"EdDSA","jwk":JWK,"kid":"x"}`, claimsOf(`,"nonce":"n"`))
	f.Add(`{"typ":"dpop+jwt","alg":"EdDSA","jwk":JWK,"typ":"dpop+jwt"}`, claimsOf(`,"htu":"HTTPS://API.EXAMPLE.COM:443/v1/payments"`))
	f.Add(`{"typ":"dpop+jwt","alg":"EdDSA","jwk":{"kty":"OKP","crv":"Ed25519","x":"AA","d":"AA"}}`, claimsOf(`,"iat":1e300`))
	f.Fuzz(func(t *testing.T, hdr, claims string) {
		hdr = strings.Replace(hdr, "JWK", jwk, 1)
		input := b64(hdr) + "." + b64(claims)
		proof := input + "." + b64(string(signWith(t, k, input)))
		v := newTestVerifier(t, testenv.NewClock(testNow), Options{})
		p, err := v.Verify(context.Background(), proof, testRequest())
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || de.Code != CodeInvalidProof || len(de.Reason) > 200 {
				t.Fatalf("err = %v (%T), want a bounded invalid_dpop_proof *Error", err, err)
			}
			return
		}
		h, err1 := claimsDecode(hdr)
		c, err2 := claimsDecode(claims)
		if err1 != nil || err2 != nil || h["typ"] != Typ || h["alg"] != "EdDSA" || c["htm"] != testMethod ||
			c["ath"] != TokenHash(testToken) || c["jti"] != p.JTI || p.JKT != k.thumbprint(t) {
			t.Fatalf("accepted a proof that breaks a rule: %s . %s", hdr, claims)
		}
		if _, ok := h["jwk"].(map[string]any)["d"]; ok {
			t.Fatalf("accepted a jwk with d: %s", hdr)
		}
	})
}

func claimsDecode(s string) (claims.Set, error) { return claims.Decode([]byte(s)) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
