package httpsig

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/httpsig/digest"
)

// The gateway's view of a payment request: its public origin, a body
// covered through Content-Digest, a tag naming the gateway, a nonce.
var (
	attackNow   = time.Unix(1_800_000_000, 0)
	attackComps = []string{"@method", "@authority", "@path", "@query", "content-digest", "content-type"}
)

const attackTag = "portcullis"

type attackFixture struct {
	client1, client2 ed25519.PrivateKey
	ecc              *ecdsa.PrivateKey
	mu               sync.Mutex
	seen             map[string]bool
	verifier         *Verifier
}

func newAttackFixture(t *testing.T) *attackFixture {
	t.Helper()
	f := &attackFixture{seen: map[string]bool{}}
	_, f.client1, _ = ed25519.GenerateKey(rand.Reader)
	_, f.client2, _ = ed25519.GenerateKey(rand.Reader)
	f.ecc, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v, err := NewVerifier(Policy{
		RequiredComponents: append([]string{}, attackComps...),
		MaxAge:             5 * time.Minute,
		ClockSkew:          30 * time.Second,
		RequireNonce:       true,
		Replay:             f.replay,
		Tag:                attackTag,
		Now:                func() time.Time { return attackNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.verifier = v
	return f
}

func (f *attackFixture) replay(_ context.Context, nonce string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen[nonce] {
		return false, nil
	}
	f.seen[nonce] = true
	return true, nil
}

// resolve is the key resolver of a request authenticated as client 1: it
// knows client 1's keys only.
func (f *attackFixture) resolve(keyid string) (Key, error) {
	switch keyid {
	case "client-1":
		return NewKey(f.client1.Public())
	case "client-1-ecc":
		return NewKey(&f.ecc.PublicKey)
	}
	return Key{}, errors.New("no such key for this consumer: " + keyid)
}

func paymentRequest(t testing.TB, body string) (*Request, []byte) {
	t.Helper()
	cd, err := digest.Compute([]byte(body), digest.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Content-Digest", cd)
	return &Request{
		Method: "POST",
		Target: Target{Scheme: "https", Authority: "api.example.com", RequestTarget: "/v1/payments?currency=EUR"},
		Header: h,
	}, []byte(body)
}

func signAttack(t testing.TB, r *Request, key SigningKey, mutate func(*SignerConfig)) Signed {
	t.Helper()
	c := SignerConfig{Key: key, Components: attackComps, Nonce: true, Tag: attackTag, TTL: time.Minute,
		Now: func() time.Time { return attackNow }}
	if mutate != nil {
		mutate(&c)
	}
	s, err := NewSigner(c)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func attach(r *Request, s ...Signed) {
	r.Header.Del("Signature-Input")
	r.Header.Del("Signature")
	for _, x := range s {
		r.Header.Add("Signature-Input", x.Input)
		r.Header.Add("Signature", x.Signature)
	}
}

// forge signs base params of the attacker's choosing with any primitive.
func forge(t testing.TB, r *Request, label, params string, sign func(base []byte) []byte) {
	t.Helper()
	comps, err := parseComponents(attackComps)
	if err != nil {
		t.Fatal(err)
	}
	il := "(" + strings.Join(func() []string {
		out := make([]string, len(comps))
		for i, c := range comps {
			out[i] = c.ident
		}
		return out
	}(), " ") + ")" + params
	base, err := buildBase(r, comps, il, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Signature-Input", label+"="+il)
	r.Header.Set("Signature", label+"=:"+base64.StdEncoding.EncodeToString(sign(base))+":")
}

// TestAttacks is the attack table at the library level: each row is a
// request a client (or someone on the path) could send, and the error the
// gateway must reach. The stage checks the signature and then the digest
// against the body it read; both steps run here.
func TestAttacks(t *testing.T) {
	const body = `{"amount":"10.00","to":"DE89370400440532013000"}`
	keyFor := func(t testing.TB, f *attackFixture) SigningKey {
		k, err := NewSigningKey("client-1", f.client1)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	tests := []struct {
		name  string
		build func(t *testing.T, f *attackFixture) (*Request, []byte)
		want  error
		code  string
		twice bool // verify the same request twice; the second must fail
	}{
		{"genuine request", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			return r, b
		}, nil, "", false},
		{"changed body (digest mismatch)", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, _ := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			return r, []byte(strings.Replace(body, "10.00", "9999.00", 1))
		}, digest.ErrMismatch, "", false},
		{"changed body and Content-Digest", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, _ := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			evil := strings.Replace(body, "10.00", "9999.00", 1)
			cd, _ := digest.Compute([]byte(evil))
			r.Header.Set("Content-Digest", cd)
			return r, []byte(evil)
		}, ErrInvalid, "invalid", false},
		{"changed path", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			r.Target.RequestTarget = "/v1/refunds?currency=EUR"
			return r, b
		}, ErrInvalid, "invalid", false},
		{"changed query", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			r.Target.RequestTarget = "/v1/payments?currency=USD"
			return r, b
		}, ErrInvalid, "invalid", false},
		{"added query", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			r.Target.RequestTarget += "&dry_run=false"
			return r, b
		}, ErrInvalid, "invalid", false},
		{"changed method", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			r.Method = "PUT"
			return r, b
		}, ErrInvalid, "invalid", false},
		{"replayed to another origin", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			r.Target.Authority = "api.sandbox.example.com"
			return r, b
		}, ErrInvalid, "invalid", false},
		{"removed covered header", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			r.Header.Del("Content-Type")
			return r, b
		}, ErrComponent, "missing_component", false},
		{"covered header duplicated", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			r.Header.Add("Content-Type", "text/plain")
			return r, b
		}, ErrInvalid, "invalid", false},
		{"line break smuggled into a covered header", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			r.Header.Set("Content-Type", "application/json\n\"@signature-params\": ()")
			return r, b
		}, ErrComponent, "missing_component", false},
		{"header named like a derived component", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			r.Method = "DELETE"
			r.Header["@method"] = []string{"POST"}
			return r, b
		}, ErrInvalid, "invalid", false},
		{"expired (older than max age)", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), func(c *SignerConfig) {
				c.TTL = 0
				c.Now = func() time.Time { return attackNow.Add(-6 * time.Minute) }
			}))
			return r, b
		}, ErrExpired, "expired", false},
		{"expired (past expires)", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), func(c *SignerConfig) {
				c.TTL = 10 * time.Second
				c.Now = func() time.Time { return attackNow.Add(-time.Minute) }
			}))
			return r, b
		}, ErrExpired, "expired", false},
		{"created in the future", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), func(c *SignerConfig) {
				c.Now = func() time.Time { return attackNow.Add(time.Minute) }
			}))
			return r, b
		}, ErrNotYetValid, "not_yet_valid", false},
		{"created within the skew", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), func(c *SignerConfig) {
				c.Now = func() time.Time { return attackNow.Add(20 * time.Second) }
			}))
			return r, b
		}, nil, "", false},
		{"no created", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			forge(t, r, "sig1", `;keyid="client-1";nonce="n1";tag="portcullis"`, func(base []byte) []byte { return ed25519.Sign(f.client1, base) })
			return r, b
		}, ErrPolicy, "policy", false},
		{"replayed nonce", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), nil))
			return r, b
		}, ErrReplayed, "replayed", true},
		{"missing nonce", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), func(c *SignerConfig) { c.Nonce = false }))
			return r, b
		}, ErrPolicy, "policy", false},
		{"wrong key id", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			k := keyFor(t, f)
			k.KeyID = "client-9"
			attach(r, signAttack(t, r, k, nil))
			return r, b
		}, ErrUnknownKey, "unknown_key", false},
		{"another consumer's key id", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			k, _ := NewSigningKey("client-2", f.client2)
			attach(r, signAttack(t, r, k, nil))
			return r, b
		}, ErrUnknownKey, "unknown_key", false},
		{"signed with another key under our key id", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			k, _ := NewSigningKey("client-1", f.client2)
			attach(r, signAttack(t, r, k, nil))
			return r, b
		}, ErrInvalid, "invalid", false},
		{"alg parameter disagrees with the key", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			forge(t, r, "sig1", `;created=1800000000;keyid="client-1";alg="ecdsa-p256-sha256";nonce="n2";tag="portcullis"`,
				func(base []byte) []byte { return ed25519.Sign(f.client1, base) })
			return r, b
		}, ErrAlgorithm, "algorithm", false},
		{"HMAC keyed with the public key", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			forge(t, r, "sig1", `;created=1800000000;keyid="client-1";alg="hmac-sha256";nonce="n3";tag="portcullis"`,
				func(base []byte) []byte {
					m := hmac.New(sha256.New, f.client1.Public().(ed25519.PublicKey))
					m.Write(base)
					return m.Sum(nil)
				})
			return r, b
		}, ErrAlgorithm, "algorithm", false},
		{"unknown alg", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			forge(t, r, "sig1", `;created=1800000000;keyid="client-1";alg="none";nonce="n4";tag="portcullis"`,
				func(base []byte) []byte { return []byte{0} })
			return r, b
		}, ErrUnsupported, "unsupported", false},
		{"ECDSA signature in DER instead of r||s", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			forge(t, r, "sig1", `;created=1800000000;keyid="client-1-ecc";nonce="n5";tag="portcullis"`,
				func(base []byte) []byte {
					h := sha256.Sum256(base)
					rr, ss, err := ecdsa.Sign(rand.Reader, f.ecc, h[:])
					if err != nil {
						t.Fatal(err)
					}
					der, _ := asn1.Marshal(struct{ R, S *big.Int }{rr, ss})
					return der
				})
			return r, b
		}, ErrInvalid, "invalid", false},
		{"truncated signature", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			forge(t, r, "sig1", `;created=1800000000;keyid="client-1";nonce="n6";tag="portcullis"`,
				func(base []byte) []byte { return ed25519.Sign(f.client1, base)[:63] })
			return r, b
		}, ErrInvalid, "invalid", false},
		{"signature under a different label", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			s := signAttack(t, r, keyFor(t, f), nil)
			r.Header.Set("Signature-Input", s.Input)
			r.Header.Set("Signature", "other"+strings.TrimPrefix(s.Signature, "sig1"))
			return r, b
		}, ErrMalformed, "malformed", false},
		{"signature values swapped between labels", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			a := signAttack(t, r, keyFor(t, f), func(c *SignerConfig) { c.Label = "a" })
			bb := signAttack(t, r, keyFor(t, f), func(c *SignerConfig) { c.Label = "b"; c.Components = attackComps[:5] })
			r.Header.Set("Signature-Input", a.Input+", "+bb.Input)
			r.Header.Set("Signature", "a"+strings.TrimPrefix(bb.Signature, "b")+", b"+strings.TrimPrefix(a.Signature, "a"))
			return r, b
		}, ErrInvalid, "invalid", false},
		{"duplicate labels in one field line", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			s := signAttack(t, r, keyFor(t, f), nil)
			r.Header.Set("Signature-Input", `sig1=();created=1800000000, `+s.Input)
			r.Header.Set("Signature", s.Signature)
			return r, b
		}, ErrMalformed, "malformed", false},
		{"duplicate labels across field lines", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			s := signAttack(t, r, keyFor(t, f), nil)
			attach(r, s)
			r.Header.Add("Signature", "sig1=:AAAA:")
			return r, b
		}, ErrMalformed, "malformed", false},
		{"duplicate signature parameter", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			s := signAttack(t, r, keyFor(t, f), nil)
			attach(r, Signed{Input: s.Input + ";created=1", Signature: s.Signature})
			return r, b
		}, ErrMalformed, "malformed", false},
		{"component covered twice", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			r.Header.Set("Signature-Input", `sig1=("@method" "@method");created=1800000000`)
			r.Header.Set("Signature", "sig1=:AAAA:")
			return r, b
		}, ErrMalformed, "malformed", false},
		{"required component not covered", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), func(c *SignerConfig) { c.Components = attackComps[:4] }))
			return r, b
		}, ErrPolicy, "policy", false},
		{"tag missing", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), func(c *SignerConfig) { c.Tag = "" }))
			return r, b
		}, ErrPolicy, "policy", false},
		{"tag of another application", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			attach(r, signAttack(t, r, keyFor(t, f), func(c *SignerConfig) { c.Tag = "upstream" }))
			return r, b
		}, ErrPolicy, "policy", false},
		{"no signature", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			return paymentRequest(t, body)
		}, ErrNoSignature, "missing", false},
		{"Signature without Signature-Input", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			r.Header.Set("Signature", "sig1=:AAAA:")
			return r, b
		}, ErrMalformed, "malformed", false},
		{"created is not an integer", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			r.Header.Set("Signature-Input", `sig1=("@method");created=1800000000.5`)
			r.Header.Set("Signature", "sig1=:AAAA:")
			return r, b
		}, ErrMalformed, "malformed", false},
		{"expires before created", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			r.Header.Set("Signature-Input", `sig1=("@method");created=1800000000;expires=1700000000`)
			r.Header.Set("Signature", "sig1=:AAAA:")
			return r, b
		}, ErrMalformed, "malformed", false},
		{"unknown derived component", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			r.Header.Set("Signature-Input", `sig1=("@method" "@body");created=1800000000`)
			r.Header.Set("Signature", "sig1=:AAAA:")
			return r, b
		}, ErrUnsupported, "unsupported", false},
		{"oversized Signature-Input", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			s := signAttack(t, r, keyFor(t, f), nil)
			attach(r, Signed{Input: s.Input + `;x="` + strings.Repeat("a", DefaultMaxFieldBytes) + `"`, Signature: s.Signature})
			return r, b
		}, ErrTooLarge, "too_large", false},
		{"oversized Signature", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			s := signAttack(t, r, keyFor(t, f), nil)
			attach(r, Signed{Input: s.Input, Signature: "sig1=:" + strings.Repeat("AAAA", DefaultMaxFieldBytes/4) + ":"})
			return r, b
		}, ErrTooLarge, "too_large", false},
		{"too many labels", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			for i := 0; i <= DefaultMaxSignatures; i++ {
				l := string(rune('a' + i))
				r.Header.Add("Signature-Input", l+`=("@method");created=1800000000`)
				r.Header.Add("Signature", l+"=:AAAA:")
			}
			return r, b
		}, ErrTooLarge, "too_large", false},
		{"too many components", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			var comps []string
			for i := 0; i <= DefaultMaxComponents; i++ {
				comps = append(comps, `"x-`+string(rune('a'+i%26))+strings.Repeat("z", i/26)+`"`)
			}
			r.Header.Set("Signature-Input", `sig1=(`+strings.Join(comps, " ")+`);created=1800000000`)
			r.Header.Set("Signature", "sig1=:AAAA:")
			return r, b
		}, ErrTooLarge, "too_large", false},
		{"oversized nonce", func(t *testing.T, f *attackFixture) (*Request, []byte) {
			r, b := paymentRequest(t, body)
			forge(t, r, "sig1", `;created=1800000000;keyid="client-1";nonce="`+strings.Repeat("n", DefaultMaxParamBytes+1)+`";tag="portcullis"`,
				func(base []byte) []byte { return ed25519.Sign(f.client1, base) })
			return r, b
		}, ErrTooLarge, "too_large", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newAttackFixture(t)
			r, content := tc.build(t, f)
			res, err := f.verifier.VerifyRequest(context.Background(), r, f.resolve)
			if err == nil && tc.twice {
				res, err = f.verifier.VerifyRequest(context.Background(), r, f.resolve)
			}
			if err == nil {
				_, err = digest.Verify(r.Header.Values(digest.Field), content)
			}
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil && (res == nil || res.KeyID != "client-1" || res.Tag != attackTag || res.Nonce == "") {
				t.Fatalf("result %+v", res)
			}
			if tc.code != "" && Code(err) != tc.code {
				t.Fatalf("Code = %q, want %q", Code(err), tc.code)
			}
		})
	}
}
