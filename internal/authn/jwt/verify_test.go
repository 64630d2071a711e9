package jwt

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/testissuer"
	"github.com/portcullis/portcullis/internal/tokencache"
)

// local builds an authenticator over a JWKS file written from a test
// issuer, so these tests need no network.
type local struct {
	is  *testissuer.Issuer
	now time.Time
	a   *Authenticator
}

func newLocal(tb testing.TB, disableCache bool) *local {
	tb.Helper()
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = is.Close() })
	file := filepath.Join(tb.TempDir(), "jwks.json")
	if err := os.WriteFile(file, is.JWKS(), 0o600); err != nil {
		tb.Fatal(err)
	}
	l := &local{is: is, now: time.Unix(1_900_000_000, 0)}
	cfg := config.JWTAuth{
		Issuers:      []config.JWTIssuer{{Issuer: is.URL(), Audiences: []string{"api"}, JWKSFile: file}},
		DisableCache: disableCache,
	}
	a, err := New("local", config.WithDefaults(cfg), Deps{Now: func() time.Time { return l.now }, Cache: tokencache.New(0, func() time.Time { return l.now })})
	if err != nil {
		tb.Fatal(err)
	}
	l.a = a
	return l
}

func (l *local) token(kid string, ttl time.Duration) string {
	return l.is.SignWith(kid, l.is.Claims("api", "alice", "read", l.now, ttl), nil)
}

func request(tok string) *http.Request {
	r, _ := http.NewRequest("GET", "https://gw.example/x", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

func TestCacheHoldsUntilExpiry(t *testing.T) {
	l := newLocal(t, false)
	tok := l.token(l.is.KidFor("RS256"), 10*time.Minute)
	p1, err := l.a.Authenticate(request(tok))
	if err != nil {
		t.Fatal(err)
	}
	if l.a.cache.Len() != 1 {
		t.Fatalf("cache has %d entries, want 1", l.a.cache.Len())
	}
	p2, err := l.a.Authenticate(request(tok))
	if err != nil || p2.ConsumerID != p1.ConsumerID || p2 == p1 {
		t.Fatalf("cached principal = %+v, %v (must be an equal copy)", p2, err)
	}
	// Past the cache TTL (5m) the token is verified again and still valid.
	l.now = l.now.Add(6 * time.Minute)
	if _, err := l.a.Authenticate(request(tok)); err != nil {
		t.Fatalf("after cache TTL: %v", err)
	}
	// Past exp (plus leeway) neither the cache nor verification accept it.
	l.now = l.now.Add(5 * time.Minute)
	_, err = l.a.Authenticate(request(tok))
	var ue *authn.Unauthenticated
	if !errors.As(err, &ue) || ue.Description != descExpired {
		t.Fatalf("after exp: %v, want expired", err)
	}
}

func TestCacheEntryNeverOutlivesToken(t *testing.T) {
	l := newLocal(t, false)
	tok := l.token(l.is.KidFor("ES256"), 40*time.Second) // shorter than the cache TTL
	if _, err := l.a.Authenticate(request(tok)); err != nil {
		t.Fatal(err)
	}
	l.now = l.now.Add(41 * time.Second) // past exp, inside leeway: verification accepts, cache must not decide
	if _, err := l.a.Authenticate(request(tok)); err != nil {
		t.Fatalf("inside leeway: %v", err)
	}
	l.now = l.now.Add(60 * time.Second)
	if _, err := l.a.Authenticate(request(tok)); err == nil {
		t.Fatal("expired token accepted from the cache")
	}
}

func TestPEMKeyFile(t *testing.T) {
	is, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer is.Close()
	file := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(file, is.PublicKeyPEM(is.KidFor("RS256")), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := New("pem", config.WithDefaults(config.JWTAuth{Issuers: []config.JWTIssuer{{Issuer: is.URL(), Audiences: []string{"api"}, JWKSFile: file}}}), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name string
		tok  string
		ok   bool
	}{
		{"kid from the issuer is accepted against a PEM key", is.SignWith(is.KidFor("RS256"), is.Claims("api", "a", "", now, time.Minute), nil), true},
		{"no kid", is.SignWith(is.KidFor("RS256"), is.Claims("api", "a", "", now, time.Minute), map[string]any{"kid": ""}), true},
		{"other key", is.SignWith(is.KidFor("ES256"), is.Claims("api", "a", "", now, time.Minute), nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Authenticate(request(tt.tok))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  config.JWTAuth
		want []string
	}{
		{"unreadable key file", config.JWTAuth{Issuers: []config.JWTIssuer{{Issuer: "i", Audiences: []string{"a"}, JWKSFile: bad}}},
			[]string{`issuers[0].jwks_file: PEM block 0: unsupported type "PRIVATE KEY"`}},
		{"missing CA file", config.JWTAuth{Issuers: []config.JWTIssuer{{Issuer: "i", Audiences: []string{"a"}, JWKSURL: "https://idp/jwks", CAFile: filepath.Join(dir, "nope")}}},
			[]string{"issuers[0].ca_file: reading ca_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New("x", config.WithDefaults(tt.cfg), Deps{})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// FuzzAuthenticate feeds arbitrary bearer tokens through extraction,
// parsing and verification: nothing may panic, and only tokens the issuer
// really signed may pass.
func FuzzAuthenticate(f *testing.F) {
	l := newLocal(f, true)
	valid := l.token(l.is.KidFor("RS256"), time.Hour)
	parts := strings.Split(valid, ".")
	seeds := []string{
		valid, parts[0] + "." + parts[1] + ".", "a.b.c", "..", "e30.e30.e30", "eyJhbGciOiJub25lIn0.e30.",
		parts[0] + ".eyJpc3MiOnt9fQ." + parts[2], strings.Repeat("A.", 3), "\x00.\xff.\n",
	}
	// Really signed, claims that fit, but typed as another kind of JWT:
	// refused, so the fuzzer starts from the token-type boundary.
	for _, typ := range []any{"dpop+jwt", "logout+jwt", "secevent+jwt", "application/dpop+jwt", "at+jwt;x", 7} {
		seeds = append(seeds, l.is.SignWith(l.is.KidFor("RS256"), l.is.Claims("api", "alice", "read", l.now, time.Hour), map[string]any{"typ": typ}))
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		r, _ := http.NewRequest("GET", "https://gw.example/x", nil)
		r.Header["Authorization"] = []string{"Bearer " + tok}
		p, err := l.a.Authenticate(r)
		if err == nil && tok != valid {
			t.Fatalf("accepted a token the issuer did not sign: %q (%+v)", tok, p)
		}
	})
}

// BenchmarkVerify measures the per-request cost of JWT authentication,
// verifying every time (uncached) and with the verified-token cache.
func BenchmarkVerify(b *testing.B) {
	for _, cached := range []bool{false, true} {
		l := newLocal(b, !cached)
		for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
			name := alg + "/uncached"
			if cached {
				name = alg + "/cached"
			}
			tok := l.token(l.is.KidFor(alg), time.Hour)
			r := request(tok)
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := l.a.Authenticate(r); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func TestIssuerChosenByIss(t *testing.T) {
	a1, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a1.Close()
	b1, err := testissuer.New(testissuer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b1.Close()
	dir := t.TempDir()
	fa, fb := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	_ = os.WriteFile(fa, a1.JWKS(), 0o600)
	_ = os.WriteFile(fb, b1.JWKS(), 0o600)
	a, err := New("multi", config.WithDefaults(config.JWTAuth{Issuers: []config.JWTIssuer{
		{Issuer: a1.URL(), Audiences: []string{"api"}, JWKSFile: fa},
		{Issuer: b1.URL(), Audiences: []string{"other-api"}, JWKSFile: fb, Algorithms: []string{"ES256"}},
	}}), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	bClaims := b1.Claims("other-api", "b-user", "", now, time.Minute)
	forged := b1.Claims("api", "a-user", "", now, time.Minute)
	forged["iss"] = a1.URL()
	tests := []struct {
		name, tok, consumer string
	}{
		{"issuer A", a1.Sign(a1.Claims("api", "a-user", "", now, time.Minute)), "a-user"},
		{"issuer B with its own audience", b1.SignWith(b1.KidFor("ES256"), bClaims, nil), "b-user"},
		{"issuer B's alg allow-list applies to B", b1.Sign(bClaims), ""},
		{"B's key cannot sign for A", b1.SignWith(b1.KidFor("ES256"), forged, map[string]any{"kid": a1.KidFor("ES256")}), ""},
		{"A's audience is not B's", a1.Sign(a1.Claims("other-api", "a-user", "", now, time.Minute)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Authenticate(request(tt.tok))
			if tt.consumer == "" {
				if err == nil {
					t.Fatalf("accepted: %+v", p)
				}
				return
			}
			if err != nil || p.ConsumerID != tt.consumer {
				t.Fatalf("got %+v, %v", p, err)
			}
		})
	}
}

// A rejected token is counted and logged by its own hash, never by the
// subject it claims: anyone can forge "sub": "alice", and that must not
// feed alice's brute-force counter.
func TestRejectedTokenHint(t *testing.T) {
	l := newLocal(t, false)
	tok := l.token(l.is.KidFor("RS256"), time.Minute)
	forged := tok[:len(tok)-4] + "AAAA" // signature broken, claims intact
	r := request(forged)
	info := &reqinfo.Info{}
	r = r.WithContext(reqinfo.With(r.Context(), info))
	if _, err := l.a.Authenticate(r); err == nil {
		t.Fatal("a token with a broken signature was accepted")
	}
	if info.CredentialHint != authn.TokenID(forged) || strings.Contains(info.CredentialHint, "alice") {
		t.Fatalf("CredentialHint = %q, want %q", info.CredentialHint, authn.TokenID(forged))
	}
}
