package httpsig

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/httpsig/digest"
)

var allAlgorithms = []Algorithm{AlgEd25519, AlgECDSAP256SHA256, AlgRSAPSSSHA512, AlgHMACSHA256}

// rfcVerifier accepts any coverage and every algorithm at the instant the
// examples were signed.
func rfcVerifier(t testing.TB, at int64) *Verifier {
	t.Helper()
	v, err := NewVerifier(Policy{
		RequiredComponents: []string{},
		Algorithms:         allAlgorithms,
		Now:                func() time.Time { return time.Unix(at, 0) },
		FieldTypes:         FieldTypes{"example-dict": FieldDictionary},
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func onlySignature(t testing.TB, h http.Header) *Signature {
	t.Helper()
	sigs, err := ParseSignatures(h, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 {
		t.Fatalf("got %d signatures, want 1", len(sigs))
	}
	return sigs[0]
}

// signingKeyFor returns the RFC's private key for a keyid.
func (k rfcKeys) signingKey(t testing.TB, keyid string) SigningKey {
	t.Helper()
	var (
		sk  SigningKey
		err error
	)
	switch keyid {
	case "test-key-rsa-pss":
		sk, err = NewSigningKey(keyid, k.rsaPSS)
	case "test-key-ecc-p256":
		sk, err = NewSigningKey(keyid, k.ecc)
	case "test-key-ed25519":
		sk, err = NewSigningKey(keyid, k.ed25519)
	case "test-shared-secret":
		sk, err = NewHMACSigningKey(keyid, k.secret)
	default:
		t.Fatalf("no key %q", keyid)
	}
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

// resign signs m again with the components and parameters of sig, under
// the same label.
func resign(t testing.TB, keys rfcKeys, m Message, sig *Signature) Signed {
	t.Helper()
	comps := make([]string, len(sig.Components))
	for i, c := range sig.Components {
		comps[i] = c.String()
	}
	s, err := NewSigner(SignerConfig{
		Key: keys.signingKey(t, sig.Params.KeyID), Label: sig.Label, Components: comps,
		FieldTypes: FieldTypes{"example-dict": FieldDictionary},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.SignWith(m, sig.Params)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRFC9421Examples reproduces the signature bases of RFC 9421 byte for
// byte, verifies the RFC's signatures, reproduces the deterministic ones
// (Ed25519, HMAC) byte for byte and round-trips the randomised ones.
func TestRFC9421Examples(t *testing.T) {
	keys := loadKeys(t)
	resolve := keys.resolver(t)
	type msgFn func(t *testing.T) Message
	request := func(name, fields string) msgFn {
		return func(t *testing.T) Message {
			r := rfcRequest(t, name)
			if fields != "" {
				r.Header = withFields(t, r.Header, fields)
			}
			return r
		}
	}
	tests := []struct {
		name          string
		msg           msgFn
		base          string
		alg           Algorithm
		label         string
		deterministic string // the RFC's Signature member, when reproducible
	}{
		{"B.2.1 minimal rsa-pss-sha512", request("test-request.http", "b21-fields.http"), "b21-base.txt", AlgRSAPSSSHA512, "sig-b21", ""},
		{"B.2.2 selective rsa-pss-sha512", request("test-request.http", "b22-fields.http"), "b22-base.txt", AlgRSAPSSSHA512, "sig-b22", ""},
		{"B.2.3 full rsa-pss-sha512", request("test-request.http", "b23-fields.http"), "b23-base.txt", AlgRSAPSSSHA512, "sig-b23", ""},
		{"B.2.4 response ecdsa-p256-sha256", func(t *testing.T) Message {
			r := rfcResponse(t, "test-response.http", nil)
			// The RFC's test-response carries a Content-Digest that does
			// not match its content (see TestRFCResponseDigestErratum);
			// B.2.4's base covers the correct one.
			cd, err := digest.Compute([]byte(`{"message": "good dog"}`), digest.SHA512)
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("Content-Digest", cd)
			r.Header = withFields(t, r.Header, "b24-fields.http")
			return r
		}, "b24-base.txt", AlgECDSAP256SHA256, "sig-b24", ""},
		{"B.2.5 hmac-sha256", request("test-request.http", "b25-fields.http"), "b25-base.txt", AlgHMACSHA256, "sig-b25",
			"sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:"},
		{"B.2.6 ed25519", request("test-request.http", "b26-fields.http"), "b26-base.txt", AlgEd25519, "sig-b26",
			"sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"},
		{"B.3 TLS-terminating proxy ecdsa-p256-sha256", request("b3-signed-request.http", ""), "b3-base.txt", AlgECDSAP256SHA256, "ttrp", ""},
		{"B.4 transformations ed25519", request("b4-signed.http", ""), "b4-base.txt", AlgEd25519, "transform",
			"transform=:ZT1kooQsEHpZ0I1IjCqtQppOmIqlJPeo7DHR3SoMn0s5JZ1eRGS0A+vyYP9t/LXlh5QMFFQ6cpLt2m0pmj3NDA==:"},
		{"2.4 response covering request (req)", func(t *testing.T) Message {
			return rfcResponse(t, "s2.4-signed-response.http", rfcRequest(t, "s2.4-request.http"))
		}, "s2.4-base.txt", AlgECDSAP256SHA256, "reqres", ""},
		{"2.4 response to a signed request", func(t *testing.T) Message {
			return rfcResponse(t, "s2.4-signed-response-full.http", rfcRequest(t, "s2.4-signed-request.http"))
		}, "s2.4-base-full.txt", AlgECDSAP256SHA256, "reqres", ""},
		{"2.4 the signed request", request("s2.4-signed-request.http", ""), "", AlgRSAPSSSHA512, "sig1", ""},
		{"3.2 verifying rsa-pss-sha512 (base of 2.5)", request("s3.2-signed-request.http", ""), "s2.5-base.txt", AlgRSAPSSSHA512, "sig1", ""},
		{"4.3 client signature before the proxy", request("s4.3-signed-request.http", ""), "", AlgECDSAP256SHA256, "sig1", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.msg(t)
			req, resp := m.parts()
			h := func() http.Header {
				if req != nil {
					return req.Header
				}
				return resp.Header
			}()
			sig := onlySignature(t, h)
			if sig.Label != tc.label {
				t.Fatalf("label %q, want %q", sig.Label, tc.label)
			}
			base, err := sig.Base(m, FieldTypes{"example-dict": FieldDictionary})
			if err != nil {
				t.Fatal(err)
			}
			if tc.base != "" {
				if want := baseVector(t, tc.base); string(base) != want {
					t.Fatalf("signature base:\n%s\nwant:\n%s", base, want)
				}
			}
			v := rfcVerifier(t, sig.Params.Created.Unix())
			res, err := v.Verify(context.Background(), m, resolve)
			if err != nil {
				t.Fatalf("RFC signature does not verify: %v", err)
			}
			if res.Alg != tc.alg || res.Label != tc.label || res.KeyID != sig.Params.KeyID {
				t.Fatalf("result %+v", res)
			}

			own := resign(t, keys, m, sig)
			if want := tc.label + "=" + sig.SignatureParams(); own.Input != want {
				t.Fatalf("Signature-Input %q, want %q", own.Input, want)
			}
			if tc.deterministic != "" && own.Signature != tc.deterministic {
				t.Fatalf("Signature %q, want the RFC's %q", own.Signature, tc.deterministic)
			}
			h.Set("Signature-Input", own.Input)
			h.Set("Signature", own.Signature)
			if _, err := v.Verify(context.Background(), m, resolve); err != nil {
				t.Fatalf("own signature does not verify: %v", err)
			}
		})
	}
}

// TestRFC9421SignatureInputsVerbatim checks that the Signature-Input this
// package writes for the B.2 examples is the RFC's, byte for byte.
func TestRFC9421SignatureInputsVerbatim(t *testing.T) {
	for _, name := range []string{"b21", "b22", "b23", "b24", "b25", "b26"} {
		t.Run(name, func(t *testing.T) {
			f := fieldsVector(t, name+"-fields.http")
			sig := onlySignature(t, f)
			if got, want := sig.Label+"="+sig.SignatureParams(), f.Get("Signature-Input"); got != want {
				t.Fatalf("re-serialised %q, RFC %q", got, want)
			}
		})
	}
}

// TestRFC9421B4Transformations: B.4's signature survives the allowed
// transformations and fails on the others.
func TestRFC9421B4Transformations(t *testing.T) {
	keys := loadKeys(t)
	v := rfcVerifier(t, 1618884473)
	tests := []struct {
		file string
		want error
	}{
		{"b4-signed.http", nil},
		{"b4-added-query.http", nil},
		{"b4-collapsed.http", nil},
		{"b4-reordered.http", nil},
		{"b4-changed-method.http", ErrInvalid},
		{"b4-swapped-accept.http", ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			_, err := v.Verify(context.Background(), rfcRequest(t, tc.file), keys.resolver(t))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestRFC9421B3ProxySignatureValue: the figure of the proxy's signature
// value is the one in its Signature field.
func TestRFC9421B3ProxySignatureValue(t *testing.T) {
	r := rfcRequest(t, "b3-signed-request.http")
	want := strings.TrimSpace(vector(t, "b3-signature.txt"))
	if got := r.Header.Get("Signature"); got != "ttrp=:"+want+":" {
		t.Fatalf("Signature %q, figure %q", got, want)
	}
	if got := strings.TrimSpace(vector(t, "s3.1-signature.txt")); !strings.Contains(rfcRequest(t, "s3.2-signed-request.http").Header.Get("Signature"), got) {
		t.Fatal("the 3.1 signature value is not the one 3.2 verifies")
	}
}

// TestRFC9421SignRoundTripRandomised: RSA-PSS and ECDSA signatures differ
// every time and each verifies.
func TestRFC9421SignRoundTripRandomised(t *testing.T) {
	keys := loadKeys(t)
	for _, keyid := range []string{"test-key-rsa-pss", "test-key-ecc-p256"} {
		t.Run(keyid, func(t *testing.T) {
			r := rfcRequest(t, "test-request.http")
			s, err := NewSigner(SignerConfig{Key: keys.signingKey(t, keyid), Components: DefaultRequestComponents,
				Now: func() time.Time { return time.Unix(1618884473, 0) }, Rand: rand.Reader})
			if err != nil {
				t.Fatal(err)
			}
			a, err := s.Sign(r)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Sign(r)
			if err != nil {
				t.Fatal(err)
			}
			if a.Input != b.Input || a.Signature == b.Signature {
				t.Fatalf("inputs %q / %q, signatures equal: %v", a.Input, b.Input, a.Signature == b.Signature)
			}
			for _, sg := range []Signed{a, b} {
				r.Header.Set("Signature-Input", sg.Input)
				r.Header.Set("Signature", sg.Signature)
				if _, err := rfcVerifier(t, 1618884473).Verify(context.Background(), r, keys.resolver(t)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
