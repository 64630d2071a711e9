package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/testenv"
)

// The request every proof is made for unless a case says otherwise.
const (
	testMethod = "POST"
	testURI    = "https://api.example.com/v1/payments"
	testToken  = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
)

var testNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// testKey is a real key pair of one algorithm.
type testKey struct {
	alg  string
	priv crypto.Signer
}

var (
	keysOnce sync.Once
	keys     map[string]*testKey
)

// testKeys returns one key per algorithm (RSA generation is slow, so once).
func testKeys(t testing.TB) map[string]*testKey {
	t.Helper()
	keysOnce.Do(func() {
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			panic(err)
		}
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		_, ed, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		keys = map[string]*testKey{
			"ES256": {"ES256", ec}, "ES384": {"ES384", ec384}, "PS256": {"PS256", rk}, "EdDSA": {"EdDSA", ed},
		}
	})
	return keys
}

func newKey(t testing.TB, alg string) *testKey {
	t.Helper()
	switch alg {
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return &testKey{alg, k}
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return &testKey{alg, k}
	}
	t.Fatalf("newKey: %s", alg)
	return nil
}

// publicJWK is the key's public JWK as a JSON object.
func (k *testKey) publicJWK(t testing.TB) map[string]any {
	return jwkMap(t, jose.JSONWebKey{Key: k.priv.Public()})
}

// privateJWK is the key's full JWK, private members included.
func (k *testKey) privateJWK(t testing.TB) map[string]any {
	return jwkMap(t, jose.JSONWebKey{Key: k.priv})
}

func (k *testKey) thumbprint(t testing.TB) string {
	tp, err := (&jose.JSONWebKey{Key: k.priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func jwkMap(t testing.TB, k jose.JSONWebKey) map[string]any {
	t.Helper()
	b, err := k.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// spec is one proof to build: a header, claims, and how to sign them.
type spec struct {
	hdr    map[string]any
	claims map[string]any
	// signer signs; nil means the key whose jwk is in the header.
	signer *testKey
	// hmacKey signs with HMAC-SHA256 instead (for alg HS256).
	hmacKey []byte
	// noSig leaves the signature empty (for alg none).
	noSig bool
	// rawHeader replaces the encoded header JSON.
	rawHeader string
}

// validSpec is a correct proof by k for the test request with testToken.
func validSpec(t testing.TB, k *testKey, now time.Time) *spec {
	return &spec{
		hdr: map[string]any{"typ": Typ, "alg": k.alg, "jwk": k.publicJWK(t)},
		claims: map[string]any{
			"jti": rand.Text(), "htm": testMethod, "htu": testURI, "iat": now.Unix(), "ath": TokenHash(testToken),
		},
		signer: k,
	}
}

// sign builds the compact JWS by hand, so a test can put anything in it.
func (s *spec) sign(t testing.TB) string {
	t.Helper()
	hdr := s.rawHeader
	if hdr == "" {
		b, err := json.Marshal(s.hdr)
		if err != nil {
			t.Fatal(err)
		}
		hdr = string(b)
	}
	body, err := json.Marshal(s.claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(hdr) + "." + b64(string(body))
	var sig []byte
	switch {
	case s.noSig:
	case s.hmacKey != nil:
		m := hmac.New(sha256.New, s.hmacKey)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	default:
		sig = signWith(t, s.signer, input)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func signWith(t testing.TB, k *testKey, input string) []byte {
	t.Helper()
	switch priv := k.priv.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, []byte(input))
	case *ecdsa.PrivateKey:
		h := crypto.SHA256
		if priv.Curve == elliptic.P384() {
			h = crypto.SHA384
		}
		d := h.New()
		d.Write([]byte(input))
		r, s, err := ecdsa.Sign(rand.Reader, priv, d.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		n := (priv.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*n)
		r.FillBytes(out[:n])
		s.FillBytes(out[n:])
		return out
	case *rsa.PrivateKey:
		d := sha256.Sum256([]byte(input))
		sig, err := rsa.SignPSS(rand.Reader, priv, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	t.Fatalf("signWith: %T", k.priv)
	return nil
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// newTestVerifier is a verifier on clock with a memory store.
func newTestVerifier(t testing.TB, clock *testenv.Clock, opts Options) *Verifier {
	t.Helper()
	if opts.Replay == nil {
		st, err := sharedstate.NewMemory(1000, sharedstate.MemoryOptions{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		opts.Replay = st
	}
	opts.Now = clock.Now
	v, err := NewVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func testRequest() Request {
	return Request{Method: testMethod, URI: testURI, AccessToken: testToken}
}

// wantCode fails unless err is an *Error with code (or nil if code is "").
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("err = %v, want none", err)
		}
		return
	}
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want a *dpop.Error %s", err, err, code)
	}
	if de.Code != code {
		t.Fatalf("code = %q (%v), want %q", de.Code, err, code)
	}
	for _, d := range []string{descInvalidProof, descUseNonce, descNotBound} {
		if de.Description == d {
			return
		}
	}
	t.Fatalf("description %q is not one of the fixed texts", de.Description)
}

// wantReason fails unless err's log reason contains part.
func wantReason(t *testing.T, err error, part string) {
	t.Helper()
	if part != "" && (err == nil || !strings.Contains(err.Error(), part)) {
		t.Fatalf("err = %v, want a reason containing %q", err, part)
	}
}

// newRedisClient is a client as a gateway instance configures one: short
// timeouts, no retries.
func newRedisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	const timeout = 500 * time.Millisecond
	c := redis.NewClient(&redis.Options{
		Addr: addr, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		PoolTimeout: timeout, MaxRetries: -1, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newRedisStore is a replay store on c under prefix.
func newRedisStore(t testing.TB, c *redis.Client, prefix string) *sharedstate.Redis {
	t.Helper()
	st, err := sharedstate.NewRedis(c, prefix, sharedstate.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
