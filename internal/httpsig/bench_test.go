package httpsig

import (
	"context"
	"testing"
	"time"
)

// benchCases signs the payment request of the attack table once per
// algorithm with the RFC 9421 test keys (RSA-PSS is 2048 bits).
func benchCases(b *testing.B) []struct {
	name string
	req  *Request
	v    *Verifier
	r    KeyResolver
	s    *Signer
} {
	keys := loadKeys(b)
	resolve := keys.resolver(b)
	var out []struct {
		name string
		req  *Request
		v    *Verifier
		r    KeyResolver
		s    *Signer
	}
	for _, c := range []struct{ name, keyid string }{
		{"ed25519", "test-key-ed25519"},
		{"ecdsa-p256-sha256", "test-key-ecc-p256"},
		{"rsa-pss-sha512", "test-key-rsa-pss"},
		{"hmac-sha256", "test-shared-secret"},
	} {
		r, _ := paymentRequest(b, `{"amount":"10.00","to":"DE89370400440532013000"}`)
		s, err := NewSigner(SignerConfig{Key: keys.signingKey(b, c.keyid), Components: attackComps, Nonce: true, Tag: attackTag,
			Now: func() time.Time { return attackNow }})
		if err != nil {
			b.Fatal(err)
		}
		signed, err := s.Sign(r)
		if err != nil {
			b.Fatal(err)
		}
		attach(r, signed)
		v, err := NewVerifier(Policy{RequiredComponents: attackComps, Tag: attackTag, Algorithms: allAlgorithms,
			Now: func() time.Time { return attackNow }})
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, struct {
			name string
			req  *Request
			v    *Verifier
			r    KeyResolver
			s    *Signer
		}{c.name, r, v, resolve, s})
	}
	return out
}

// BenchmarkVerify is the whole per-request cost: parsing both fields, the
// policy, the key lookup, building the base of six components and the
// cryptographic check.
func BenchmarkVerify(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				if _, err := c.v.VerifyRequest(ctx, c.req, c.r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseAndBase is the part of verification that is not
// cryptography.
func BenchmarkParseAndBase(b *testing.B) {
	c := benchCases(b)[0]
	b.ReportAllocs()
	for b.Loop() {
		sigs, err := ParseSignatures(c.req.Header, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sigs[0].Base(c.req, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.s.Sign(c.req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
