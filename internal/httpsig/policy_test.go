package httpsig

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewVerifierRefuses(t *testing.T) {
	replay := func(context.Context, string) (bool, error) { return true, nil }
	tests := []struct {
		name string
		p    Policy
		want string
	}{
		{"negative max age", Policy{MaxAge: -time.Second}, "negative"},
		{"negative skew", Policy{ClockSkew: -time.Second}, "negative"},
		{"nonce without replay hook", Policy{RequireNonce: true}, "Replay"},
		{"unknown algorithm", Policy{Algorithms: []Algorithm{"rsa-v1_5-sha256"}}, "algorithms[0]"},
		{"bad component", Policy{RequiredComponents: []string{"@method", `"Content-Type"`}}, "required components: [1]"},
		{"unknown component", Policy{RequiredComponents: []string{"@body"}}, "required components: [0]"},
		{"tag not printable", Policy{Tag: "a\nb", Replay: replay}, "tag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewVerifier(tc.p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

// ed25519Request signs a GET with the given components at now.
func ed25519Request(t *testing.T, priv ed25519.PrivateKey, target string, comps []string, label, tag string) *Request {
	t.Helper()
	r := &Request{Method: "GET", Target: Target{"https", "api.example.com", target}, Header: http.Header{}}
	k, err := NewSigningKey("k1", priv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(SignerConfig{Key: k, Components: comps, Label: label, Tag: tag, Nonce: true,
		Now: func() time.Time { return attackNow }})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := out.AddTo(r.Header); err != nil {
		t.Fatal(err)
	}
	return r
}

func keyResolver(keys map[string]Key) KeyResolver {
	return func(id string) (Key, error) {
		k, ok := keys[id]
		if !ok {
			return Key{}, errors.New("unknown")
		}
		return k, nil
	}
}

// TestDefaultPolicy: the zero Policy requires method, authority, path and
// query (or @target-uri), created within five minutes, and an asymmetric
// algorithm.
func TestDefaultPolicy(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := NewKey(priv.Public())
	resolve := keyResolver(map[string]Key{"k1": pub})
	v, err := NewVerifier(Policy{Now: func() time.Time { return attackNow }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		comps []string
		want  error
	}{
		{"method authority path query", []string{"@method", "@authority", "@path", "@query"}, nil},
		{"target-uri covers authority path query", []string{"@method", "@target-uri"}, nil},
		{"request-target does not cover authority", []string{"@method", "@request-target"}, ErrPolicy},
		{"query missing", []string{"@method", "@authority", "@path"}, ErrPolicy},
		{"nothing covered", []string{}, ErrPolicy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ed25519Request(t, priv, "/a?b=c", tc.comps, "sig1", "")
			_, err := v.VerifyRequest(context.Background(), r, resolve)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("hmac not allowed unless listed", func(t *testing.T) {
		keys := loadKeys(t)
		r := rfcRequest(t, "test-request.http")
		r.Header = withFields(t, r.Header, "b25-fields.http")
		v, _ := NewVerifier(Policy{RequiredComponents: []string{}, Now: func() time.Time { return time.Unix(1618884473, 0) }})
		if _, err := v.VerifyRequest(context.Background(), r, keys.resolver(t)); !errors.Is(err, ErrAlgorithm) {
			t.Fatalf("err = %v, want ErrAlgorithm", err)
		}
	})
	t.Run("response requires @status", func(t *testing.T) {
		keys := loadKeys(t)
		resp := rfcResponse(t, "s2.4-signed-response.http", rfcRequest(t, "s2.4-request.http"))
		v, _ := NewVerifier(Policy{Now: func() time.Time { return time.Unix(1618884479, 0) }})
		if _, err := v.VerifyResponse(context.Background(), resp, keys.resolver(t)); err != nil {
			t.Fatal(err)
		}
		v, _ = NewVerifier(Policy{RequiredComponents: []string{"@status", "@query;req"}, Now: func() time.Time { return time.Unix(1618884479, 0) }})
		if _, err := v.VerifyResponse(context.Background(), resp, keys.resolver(t)); !errors.Is(err, ErrPolicy) {
			t.Fatalf("err = %v, want ErrPolicy", err)
		}
	})
}

// TestSeveralSignatures: a valid signature is found among invalid ones
// with the same tag, the first candidate's error is reported when none
// verifies, and labels can be pinned.
func TestSeveralSignatures(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := NewKey(priv.Public())
	resolve := keyResolver(map[string]Key{"k1": pub})
	comps := DefaultRequestComponents
	build := func() *Request {
		r := ed25519Request(t, other, "/x", comps, "bogus", "gw")
		good := ed25519Request(t, priv, "/x", comps, "good", "gw")
		for _, k := range []string{"Signature-Input", "Signature"} {
			r.Header.Add(k, good.Header.Get(k))
		}
		return r
	}
	now := func() time.Time { return attackNow }
	v, _ := NewVerifier(Policy{Tag: "gw", Now: now})
	res, err := v.VerifyRequest(context.Background(), build(), resolve)
	if err != nil || res.Label != "good" {
		t.Fatalf("res %+v, err %v", res, err)
	}
	v, _ = NewVerifier(Policy{Label: "bogus", Now: now})
	if _, err := v.VerifyRequest(context.Background(), build(), resolve); !errors.Is(err, ErrInvalid) {
		t.Fatalf("pinned to the bogus label: err = %v, want ErrInvalid", err)
	}
	v, _ = NewVerifier(Policy{Label: "absent", Now: now})
	if _, err := v.VerifyRequest(context.Background(), build(), resolve); !errors.Is(err, ErrPolicy) {
		t.Fatalf("absent label: err = %v, want ErrPolicy", err)
	}
	r := ed25519Request(t, other, "/x", comps, "a", "")
	_, err = v.VerifyRequest(context.Background(), r, resolve)
	if !errors.Is(err, ErrPolicy) {
		t.Fatalf("err = %v", err)
	}
}

// TestReplayHookAfterCrypto: a forged signature cannot burn a genuine
// nonce, and a failing replay store fails closed.
func TestReplayHookAfterCrypto(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	pub, _ := NewKey(priv.Public())
	resolve := keyResolver(map[string]Key{"k1": pub})
	calls := 0
	seen := map[string]bool{}
	v, _ := NewVerifier(Policy{RequireNonce: true, Now: func() time.Time { return attackNow },
		Replay: func(_ context.Context, n string) (bool, error) {
			calls++
			first := !seen[n]
			seen[n] = true
			return first, nil
		}})
	good := ed25519Request(t, priv, "/", DefaultRequestComponents, "sig1", "")
	nonce := onlySignature(t, good.Header).Params.Nonce
	forged := ed25519Request(t, other, "/", DefaultRequestComponents, "sig1", "")
	// The forger copies the genuine nonce into its own signature input.
	in := strings.Replace(forged.Header.Get("Signature-Input"), onlySignature(t, forged.Header).Params.Nonce, nonce, 1)
	forged.Header.Set("Signature-Input", in)
	if _, err := v.VerifyRequest(context.Background(), forged, resolve); !errors.Is(err, ErrInvalid) {
		t.Fatalf("forged: err = %v", err)
	}
	if calls != 0 {
		t.Fatalf("replay hook called %d times for a forged signature", calls)
	}
	if _, err := v.VerifyRequest(context.Background(), good, resolve); err != nil {
		t.Fatalf("genuine after forged: %v", err)
	}
	storeDown := errors.New("redis: connection refused")
	v, _ = NewVerifier(Policy{RequireNonce: true, Now: func() time.Time { return attackNow },
		Replay: func(context.Context, string) (bool, error) { return false, storeDown }})
	_, err := v.VerifyRequest(context.Background(), ed25519Request(t, priv, "/", DefaultRequestComponents, "sig1", ""), resolve)
	if !errors.Is(err, ErrReplayCheck) || !errors.Is(err, storeDown) || Code(err) != "replay_check" {
		t.Fatalf("err = %v", err)
	}
	if got := v.ReplayWindow(); got != DefaultMaxAge+2*DefaultClockSkew {
		t.Fatalf("ReplayWindow = %v", got)
	}
}

// TestErrorsBounded: untrusted text reaches error messages only sanitised
// and truncated, and the resolver's text never.
func TestErrorsBounded(t *testing.T) {
	longLabel := "a" + strings.Repeat("b", 4000)
	h := http.Header{}
	h.Set("Signature-Input", longLabel+`=("@method");created=1`)
	h.Set("Signature", "other=:AAAA:")
	_, err := ParseSignatures(h, Limits{MaxFieldBytes: 1 << 20})
	if !errors.Is(err, ErrMalformed) || len(err.Error()) > 200 {
		t.Fatalf("err (%d bytes) = %.300s", len(err.Error()), err)
	}
	h.Set("Signature-Input", `sig1=("@method" "@`+strings.Repeat("c", 3000)+`");created=1`)
	h.Set("Signature", "sig1=:AAAA:")
	_, err = ParseSignatures(h, Limits{MaxFieldBytes: 1 << 20})
	if !errors.Is(err, ErrUnsupported) || len(err.Error()) > 200 {
		t.Fatalf("err (%d bytes) = %.300s", len(err.Error()), err)
	}
	secret := errors.New("SELECT key FROM consumers WHERE id = 'c-42'")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	v, _ := NewVerifier(Policy{Now: func() time.Time { return attackNow }})
	_, err = v.VerifyRequest(context.Background(), ed25519Request(t, priv, "/", DefaultRequestComponents, "sig1", ""),
		func(string) (Key, error) { return Key{}, secret })
	if !errors.Is(err, ErrUnknownKey) || !errors.Is(err, secret) || strings.Contains(err.Error(), "SELECT") {
		t.Fatalf("err = %v", err)
	}
	if Code(nil) != "" || Code(errors.New("x")) != "internal" {
		t.Fatal("Code of nil / foreign errors")
	}
}

func TestKeyMaterial(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name string
		key  func() (Key, error)
	}{
		{"RSA below 2048 bits", func() (Key, error) { return NewKey(&rsa1024.PublicKey) }},
		{"ECDSA P-384", func() (Key, error) { return NewKey(&p384.PublicKey) }},
		{"short HMAC secret", func() (Key, error) { return NewHMACKey(make([]byte, 16)) }},
		{"unsupported type", func() (Key, error) { return NewKey("not a key") }},
		{"alg and key type disagree", func() (Key, error) {
			k := Key{Alg: AlgRSAPSSSHA512, Public: edPriv.Public()}
			return k, k.validate()
		}},
		{"public key with a secret", func() (Key, error) {
			k := Key{Alg: AlgEd25519, Public: edPriv.Public(), Secret: make([]byte, 32)}
			return k, k.validate()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.key(); !errors.Is(err, ErrKey) {
				t.Fatalf("err = %v, want ErrKey", err)
			}
		})
	}
	t.Run("resolver returning unusable key", func(t *testing.T) {
		v, _ := NewVerifier(Policy{Now: func() time.Time { return attackNow }})
		r := ed25519Request(t, edPriv, "/", DefaultRequestComponents, "sig1", "")
		_, err := v.VerifyRequest(context.Background(), r, func(string) (Key, error) {
			return Key{Alg: AlgEd25519, Public: &rsa1024.PublicKey}, nil
		})
		if !errors.Is(err, ErrKey) || Code(err) != "key" {
			t.Fatalf("err = %v", err)
		}
	})
	if _, err := NewSigningKey("x", rsa1024); !errors.Is(err, ErrKey) {
		t.Fatalf("RSA-1024 signing key: %v", err)
	}
}

func TestSigner(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := NewSigningKey("k1", priv)
	if _, err := NewSigner(SignerConfig{Key: k, Label: "Sig"}); err == nil {
		t.Fatal("uppercase label accepted")
	}
	if _, err := NewSigner(SignerConfig{Key: k, Components: []string{"@nope"}}); err == nil {
		t.Fatal("unknown component accepted")
	}
	if _, err := NewSigner(SignerConfig{Key: SigningKey{Alg: AlgEd25519}}); !errors.Is(err, ErrKey) {
		t.Fatalf("empty key: %v", err)
	}
	s, err := NewSigner(SignerConfig{Key: k, Components: []string{"@method", "content-digest"}, IncludeAlg: true, TTL: time.Minute,
		Now: func() time.Time { return time.Unix(1618884473, 500) }})
	if err != nil {
		t.Fatal(err)
	}
	r := &Request{Method: "GET", Target: Target{"https", "example.com", "/"}, Header: http.Header{}}
	if _, err := s.Sign(r); !errors.Is(err, ErrComponent) {
		t.Fatalf("covering an absent field: %v", err)
	}
	r.Header.Set("Content-Digest", "sha-256=:AAAA:")
	out, err := s.Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `sig1=("@method" "content-digest");created=1618884473;expires=1618884533;keyid="k1";alg="ed25519"`
	if out.Input != want {
		t.Fatalf("Input %q, want %q", out.Input, want)
	}
	if err := out.AddTo(r.Header); err != nil {
		t.Fatal(err)
	}
	if err := out.AddTo(r.Header); !errors.Is(err, ErrMalformed) {
		t.Fatalf("second AddTo with the same label: %v", err)
	}
	if _, err := s.SignWith(r, Params{Created: time.Unix(1, 0), Alg: AlgHMACSHA256}); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("alg mismatch: %v", err)
	}
	if _, err := s.SignWith(r, Params{Created: time.Unix(1, 0), Nonce: "bad\nnonce"}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("nonce with a line break: %v", err)
	}
	n1, _ := NewNonce()
	n2, _ := NewNonce()
	if len(n1) != 22 || n1 == n2 {
		t.Fatalf("nonces %q %q", n1, n2)
	}
}
