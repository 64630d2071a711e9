package dpop

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/testenv"
)

// TestVerify runs every attack on a proof (and the accepted variants) with
// a real key of each default algorithm.
func TestVerify(t *testing.T) {
	keys := testKeys(t)
	other := map[string]*testKey{"ES256": newKey(t, "ES256"), "PS256": keys["ES256"], "EdDSA": newKey(t, "EdDSA")}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	type mut = func(t *testing.T, s *spec, k *testKey)
	tests := []struct {
		name   string
		mutate mut
		req    func(r *Request)
		code   string // "" for accepted
		reason string // part of the log reason
	}{
		{name: "valid"},
		{name: "htu spelled differently", mutate: func(_ *testing.T, s *spec, _ *testKey) {
			s.claims["htu"] = "HTTPS://API.Example.COM:443/v1/%70ayments"
		}},
		{name: "request URI with query", req: func(r *Request) { r.URI += "?amount=10#frag" }},
		{name: "no token, no ath", mutate: func(_ *testing.T, s *spec, _ *testKey) { delete(s.claims, "ath") },
			req: func(r *Request) { r.AccessToken = "" }},
		{name: "no token, ath ignored", req: func(r *Request) { r.AccessToken = "" }},
		{name: "iat at the max age", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["iat"] = testNow.Add(-DefaultMaxAge).Unix() }},
		{name: "iat at the max future", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["iat"] = testNow.Add(DefaultMaxFuture).Unix() }},
		{name: "iat with a fraction", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["iat"] = float64(testNow.Unix()) + 0.5 }},
		{name: "unknown claims and kid ignored", mutate: func(_ *testing.T, s *spec, _ *testKey) {
			s.claims["extra"] = map[string]any{"a": 1}
			s.hdr["kid"] = "k1"
		}},

		// htm
		{name: "wrong htm", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["htm"] = "GET" }, code: CodeInvalidProof, reason: "htm"},
		{name: "htm in lower case", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["htm"] = "post" }, code: CodeInvalidProof, reason: "htm"},
		{name: "htm missing", mutate: func(_ *testing.T, s *spec, _ *testKey) { delete(s.claims, "htm") }, code: CodeInvalidProof, reason: "htm"},
		// htu
		{name: "htu other host", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["htu"] = "https://evil.example.com/v1/payments" },
			code: CodeInvalidProof, reason: "htu"},
		{name: "htu other path", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["htu"] = "https://api.example.com/v1/refunds" },
			code: CodeInvalidProof, reason: "htu"},
		{name: "htu path with trailing slash", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["htu"] = testURI + "/" },
			code: CodeInvalidProof, reason: "htu"},
		{name: "htu other scheme", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["htu"] = "http://api.example.com/v1/payments" },
			code: CodeInvalidProof, reason: "htu"},
		{name: "htu other port", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["htu"] = "https://api.example.com:8443/v1/payments" },
			code: CodeInvalidProof, reason: "htu"},
		{name: "htu with query", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["htu"] = testURI + "?amount=10" },
			code: CodeInvalidProof, reason: "query"},
		{name: "htu with fragment", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["htu"] = testURI + "#x" },
			code: CodeInvalidProof, reason: "query or fragment"},
		{name: "htu with userinfo", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["htu"] = "https://u@api.example.com/v1/payments" },
			code: CodeInvalidProof, reason: "userinfo"},
		{name: "htu relative", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["htu"] = "/v1/payments" },
			code: CodeInvalidProof, reason: "htu"},
		{name: "htu missing", mutate: func(_ *testing.T, s *spec, _ *testKey) { delete(s.claims, "htu") }, code: CodeInvalidProof, reason: "htu"},
		{name: "request for another path", req: func(r *Request) { r.URI = "https://api.example.com/v1/payments/1" },
			code: CodeInvalidProof, reason: "htu"},
		// iat
		{name: "iat stale", mutate: func(_ *testing.T, s *spec, _ *testKey) {
			s.claims["iat"] = testNow.Add(-DefaultMaxAge - time.Second).Unix()
		},
			code: CodeInvalidProof, reason: "old"},
		{name: "iat in the future", mutate: func(_ *testing.T, s *spec, _ *testKey) {
			s.claims["iat"] = testNow.Add(DefaultMaxFuture + time.Second).Unix()
		},
			code: CodeInvalidProof, reason: "ahead"},
		{name: "iat missing", mutate: func(_ *testing.T, s *spec, _ *testKey) { delete(s.claims, "iat") }, code: CodeInvalidProof, reason: "iat"},
		{name: "iat a string", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["iat"] = "1796040000" }, code: CodeInvalidProof, reason: "iat"},
		// jti
		{name: "jti missing", mutate: func(_ *testing.T, s *spec, _ *testKey) { delete(s.claims, "jti") }, code: CodeInvalidProof, reason: "jti"},
		{name: "jti empty", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["jti"] = "" }, code: CodeInvalidProof, reason: "jti"},
		{name: "jti a number", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["jti"] = 7 }, code: CodeInvalidProof, reason: "jti"},
		{name: "jti too long", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["jti"] = strings.Repeat("j", MaxJTIBytes+1) },
			code: CodeInvalidProof, reason: "jti"},
		// ath
		{name: "ath of another token", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["ath"] = TokenHash("another-token") },
			code: CodeInvalidProof, reason: "ath"},
		{name: "ath missing with a token", mutate: func(_ *testing.T, s *spec, _ *testKey) { delete(s.claims, "ath") },
			code: CodeInvalidProof, reason: "ath"},
		{name: "ath unencoded token", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims["ath"] = testToken },
			code: CodeInvalidProof, reason: "ath"},
		// signature and key
		{name: "signed with a key other than its jwk", mutate: func(_ *testing.T, s *spec, k *testKey) {
			o := other[k.alg]
			if o.alg != k.alg { // PS256: another RSA key
				rk, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					panic(err)
				}
				o = &testKey{"PS256", rk}
			}
			s.signer = o
		}, code: CodeInvalidProof, reason: "signature"},
		{name: "jwk of another key, signed by this one", mutate: func(t *testing.T, s *spec, k *testKey) {
			if k.alg == "PS256" {
				t.Skip("covered by the case above")
			}
			s.hdr["jwk"] = other[k.alg].publicJWK(t)
		}, code: CodeInvalidProof, reason: "signature"},
		{name: "jwk with private members", mutate: func(t *testing.T, s *spec, k *testKey) { s.hdr["jwk"] = k.privateJWK(t) },
			code: CodeInvalidProof, reason: `private member "d"`},
		{name: "jwk with p", mutate: func(t *testing.T, s *spec, _ *testKey) { s.hdr["jwk"].(map[string]any)["p"] = "AQAB" },
			code: CodeInvalidProof, reason: `private member "p"`},
		{name: "jwk with qi", mutate: func(t *testing.T, s *spec, _ *testKey) { s.hdr["jwk"].(map[string]any)["qi"] = "AQAB" },
			code: CodeInvalidProof, reason: `private member "qi"`},
		{name: "symmetric jwk", mutate: func(_ *testing.T, s *spec, _ *testKey) {
			s.hdr["jwk"] = map[string]any{"kty": "oct", "k": b64("0123456789abcdef0123456789abcdef")}
		}, code: CodeInvalidProof, reason: "private member"},
		{name: "symmetric jwk without k", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.hdr["jwk"] = map[string]any{"kty": "oct"} },
			code: CodeInvalidProof, reason: "symmetric"},
		{name: "jwk missing", mutate: func(_ *testing.T, s *spec, _ *testKey) { delete(s.hdr, "jwk") }, code: CodeInvalidProof, reason: "jwk"},
		{name: "jwk a string", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.hdr["jwk"] = "key" }, code: CodeInvalidProof, reason: "jwk"},
		{name: "jwk type does not fit alg", mutate: func(t *testing.T, s *spec, k *testKey) {
			o := keys["ES256"]
			if k.alg == "ES256" {
				o = keys["EdDSA"]
			}
			s.hdr["jwk"] = o.publicJWK(t)
		}, code: CodeInvalidProof, reason: "does not fit"},
		{name: "alg none", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.hdr["alg"] = "none"; s.noSig = true },
			code: CodeInvalidProof, reason: `alg "none"`},
		{name: "alg HS256 keyed with the public jwk", mutate: func(t *testing.T, s *spec, k *testKey) {
			s.hdr["alg"] = "HS256"
			s.hmacKey = []byte(mustJSON(t, k.publicJWK(t)))
		}, code: CodeInvalidProof, reason: `alg "HS256"`},
		{name: "alg RS256 not in the allow-list", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.hdr["alg"] = "RS256" },
			code: CodeInvalidProof, reason: `alg "RS256"`},
		{name: "alg missing", mutate: func(_ *testing.T, s *spec, _ *testKey) { delete(s.hdr, "alg") }, code: CodeInvalidProof, reason: "alg"},
		// typ
		{name: "typ missing", mutate: func(_ *testing.T, s *spec, _ *testKey) { delete(s.hdr, "typ") }, code: CodeInvalidProof, reason: "typ"},
		{name: "typ JWT", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.hdr["typ"] = "JWT" }, code: CodeInvalidProof, reason: "typ"},
		{name: "typ in upper case", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.hdr["typ"] = "DPOP+JWT" }, code: CodeInvalidProof, reason: "typ"},
		{name: "typ application/dpop+jwt", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.hdr["typ"] = "application/dpop+jwt" },
			code: CodeInvalidProof, reason: "typ"},
		// other header members
		{name: "crit header", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.hdr["crit"] = []string{"exp"} }, code: CodeInvalidProof, reason: "crit"},
		{name: "b64 header", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.hdr["b64"] = false }, code: CodeInvalidProof, reason: "b64"},
		{name: "jku header", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.hdr["jku"] = "https://evil.example/jwks" }, code: CodeInvalidProof, reason: "jku"},
		{name: "duplicate alg member", mutate: func(t *testing.T, s *spec, k *testKey) {
			s.rawHeader = `{"typ":"dpop+jwt","alg":"` + k.alg + `","alg":"none","jwk":` + mustJSON(t, k.publicJWK(t)) + `}`
		}, code: CodeInvalidProof, reason: "duplicate"},
		{name: "duplicate typ member", mutate: func(t *testing.T, s *spec, k *testKey) {
			s.rawHeader = `{"typ":"JWT","typ":"dpop+jwt","alg":"` + k.alg + `","jwk":` + mustJSON(t, k.publicJWK(t)) + `}`
		}, code: CodeInvalidProof, reason: "duplicate"},
		{name: "duplicate jti claim", mutate: func(_ *testing.T, s *spec, _ *testKey) { s.claims = nil }, code: CodeInvalidProof, reason: "duplicate"},
	}
	for _, alg := range DefaultAlgorithms {
		for _, tt := range tests {
			t.Run(alg+"/"+tt.name, func(t *testing.T) {
				k := keys[alg]
				clock := testenv.NewClock(testNow)
				v := newTestVerifier(t, clock, Options{})
				s := validSpec(t, k, testNow)
				if tt.mutate != nil {
					tt.mutate(t, s, k)
				}
				var proof string
				if s.claims == nil {
					proof = signRawClaims(t, s, `{"jti":"a","jti":"b","htm":"POST","htu":"`+testURI+`","iat":`+itoa(testNow.Unix())+`}`)
				} else {
					proof = s.sign(t)
				}
				req := testRequest()
				if tt.req != nil {
					tt.req(&req)
				}
				p, err := v.Verify(context.Background(), proof, req)
				wantCode(t, err, tt.code)
				wantReason(t, err, tt.reason)
				if err != nil {
					if strings.Contains(err.Error(), proof[:20]) {
						t.Fatalf("reason %q echoes the proof", err)
					}
					return
				}
				if p.JKT != k.thumbprint(t) || p.Algorithm != alg || p.JTI != s.claims["jti"] {
					t.Fatalf("proof = %+v, want jkt %s", p, k.thumbprint(t))
				}
			})
		}
	}
	t.Run("RSA key under 2048 bits", func(t *testing.T) {
		v := newTestVerifier(t, testenv.NewClock(testNow), Options{})
		k := &testKey{"PS256", small}
		_, err := v.Verify(context.Background(), validSpec(t, k, testNow).sign(t), testRequest())
		wantCode(t, err, CodeInvalidProof)
		wantReason(t, err, "does not fit")
	})
	t.Run("ES384 proof when ES384 is allowed", func(t *testing.T) {
		v := newTestVerifier(t, testenv.NewClock(testNow), Options{Algorithms: []string{"ES384"}})
		_, err := v.Verify(context.Background(), validSpec(t, keys["ES384"], testNow).sign(t), testRequest())
		wantCode(t, err, "")
		_, err = v.Verify(context.Background(), validSpec(t, keys["ES256"], testNow).sign(t), testRequest())
		wantCode(t, err, CodeInvalidProof)
		wantReason(t, err, `alg "ES256"`)
	})
	t.Run("ES384 header with a P-256 key", func(t *testing.T) {
		v := newTestVerifier(t, testenv.NewClock(testNow), Options{Algorithms: []string{"ES256", "ES384"}})
		s := validSpec(t, keys["ES256"], testNow)
		s.hdr["alg"] = "ES384"
		_, err := v.Verify(context.Background(), s.sign(t), testRequest())
		wantCode(t, err, CodeInvalidProof)
		wantReason(t, err, "does not fit")
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// signRawClaims signs s's header over claims given as raw JSON.
func signRawClaims(t *testing.T, s *spec, claims string) string {
	t.Helper()
	hdr := mustJSON(t, s.hdr)
	input := b64(hdr) + "." + b64(claims)
	return input + "." + b64(string(signWith(t, s.signer, input)))
}

// TestVerifyMalformed: proofs that are not a single compact JWS.
func TestVerifyMalformed(t *testing.T) {
	k := testKeys(t)["ES256"]
	good := validSpec(t, k, testNow).sign(t)
	parts := strings.Split(good, ".")
	tests := []struct {
		name, proof, reason string
	}{
		{"empty", "", "compact JWS"},
		{"two parts", parts[0] + "." + parts[1], "compact JWS"},
		{"four parts", good + ".x", "compact JWS"},
		{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, "compact JWS"},
		{"padding", parts[0] + "=." + parts[1] + "." + parts[2], "compact JWS"},
		{"standard base64", parts[0] + "." + parts[1] + ".+" + parts[2][1:], "compact JWS"},
		{"space inside", parts[0] + ". " + parts[1] + "." + parts[2], "compact JWS"},
		{"two proofs in one header", good + "," + good, "compact JWS"},
		{"header not JSON", b64("not json") + "." + parts[1] + "." + parts[2], "header"},
		{"header a JSON array", b64(`["typ"]`) + "." + parts[1] + "." + parts[2], "header"},
		{"claims not JSON", parts[0] + "." + b64("nope") + "." + parts[2], "signature"},
		{"empty signature", parts[0] + "." + parts[1] + ".", "signature"},
		{"oversized", parts[0] + "." + strings.Repeat("A", DefaultMaxProofBytes) + "." + parts[2], "over"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newTestVerifier(t, testenv.NewClock(testNow), Options{})
			_, err := v.Verify(context.Background(), tt.proof, testRequest())
			wantCode(t, err, CodeInvalidProof)
			wantReason(t, err, tt.reason)
		})
	}
}

// TestReplay: a proof is accepted once per key within its window, on one
// store and on every store instance sharing the same Redis.
func TestReplay(t *testing.T) {
	keys := testKeys(t)
	t.Run("memory store", func(t *testing.T) {
		clock := testenv.NewClock(testNow)
		v := newTestVerifier(t, clock, Options{})
		proof := validSpec(t, keys["EdDSA"], testNow).sign(t)
		if _, err := v.Verify(context.Background(), proof, testRequest()); err != nil {
			t.Fatal(err)
		}
		_, err := v.Verify(context.Background(), proof, testRequest())
		wantCode(t, err, CodeInvalidProof)
		wantReason(t, err, "replayed")
		// Still refused at the last instant the proof is acceptable by iat.
		clock.Advance(DefaultMaxAge)
		_, err = v.Verify(context.Background(), proof, testRequest())
		wantReason(t, err, "replayed")
		clock.Advance(time.Second)
		_, err = v.Verify(context.Background(), proof, testRequest())
		wantReason(t, err, "old")
	})
	t.Run("same jti from another key is not a replay", func(t *testing.T) {
		v := newTestVerifier(t, testenv.NewClock(testNow), Options{})
		a, b := validSpec(t, keys["ES256"], testNow), validSpec(t, keys["EdDSA"], testNow)
		b.claims["jti"] = a.claims["jti"]
		for _, s := range []*spec{a, b} {
			if _, err := v.Verify(context.Background(), s.sign(t), testRequest()); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("same jti re-signed is a replay", func(t *testing.T) {
		v := newTestVerifier(t, testenv.NewClock(testNow), Options{})
		s := validSpec(t, keys["ES256"], testNow)
		if _, err := v.Verify(context.Background(), s.sign(t), testRequest()); err != nil {
			t.Fatal(err)
		}
		s.claims["iat"] = testNow.Unix() + 1 // a different proof, the same jti
		_, err := v.Verify(context.Background(), s.sign(t), testRequest())
		wantReason(t, err, "replayed")
	})
	t.Run("store full fails closed", func(t *testing.T) {
		clock := testenv.NewClock(testNow)
		st, err := sharedstate.NewMemory(1, sharedstate.MemoryOptions{Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		v := newTestVerifier(t, clock, Options{Replay: st})
		if _, err := v.Verify(context.Background(), validSpec(t, keys["ES256"], testNow).sign(t), testRequest()); err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(context.Background(), validSpec(t, keys["ES256"], testNow).sign(t), testRequest())
		if !errors.Is(err, ErrReplayCheck) || !errors.Is(err, sharedstate.ErrFull) {
			t.Fatalf("err = %v, want ErrReplayCheck wrapping ErrFull", err)
		}
		if pe := Unauthorized(v.Challenge(), err); pe.Status != http.StatusServiceUnavailable {
			t.Fatalf("status = %d, want 503", pe.Status)
		}
	})
	t.Run("redis shared by two instances", func(t *testing.T) {
		r := testenv.StartRedis(t, testenv.RedisOptions{})
		clock := testenv.NewClock(time.Now())
		// Two instances: each its own client and store, one Redis.
		v1 := newTestVerifier(t, clock, Options{Replay: newRedisStore(t, newRedisClient(t, r.Addr()), "pc:")})
		v2 := newTestVerifier(t, clock, Options{Replay: newRedisStore(t, newRedisClient(t, r.Addr()), "pc:")})
		proof := validSpec(t, keys["ES256"], clock.Now()).sign(t)
		if _, err := v1.Verify(context.Background(), proof, testRequest()); err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]*Verifier{"same instance": v1, "other instance": v2} {
			_, err := v.Verify(context.Background(), proof, testRequest())
			if wantCode(t, err, CodeInvalidProof); !strings.Contains(err.Error(), "replayed") {
				t.Fatalf("%s: err = %v, want replayed", name, err)
			}
		}
		fresh := validSpec(t, keys["ES256"], clock.Now()).sign(t)
		if _, err := v2.Verify(context.Background(), fresh, testRequest()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("redis down fails closed", func(t *testing.T) {
		r := testenv.StartRedis(t, testenv.RedisOptions{})
		clock := testenv.NewClock(time.Now())
		v := newTestVerifier(t, clock, Options{Replay: newRedisStore(t, newRedisClient(t, r.Addr()), "pc:")})
		r.Stop()
		_, err := v.Verify(context.Background(), validSpec(t, keys["ES256"], clock.Now()).sign(t), testRequest())
		if !errors.Is(err, ErrReplayCheck) || !errors.Is(err, sharedstate.ErrUnavailable) {
			t.Fatalf("err = %v, want ErrReplayCheck wrapping ErrUnavailable", err)
		}
	})
}

// TestProofHeader: exactly one, non-empty, bounded DPoP header.
func TestProofHeader(t *testing.T) {
	tests := []struct {
		name  string
		vals  []string
		want  string
		noHdr bool
		code  string
	}{
		{name: "one", vals: []string{"a.b.c"}, want: "a.b.c"},
		{name: "none", noHdr: true},
		{name: "two", vals: []string{"a.b.c", "d.e.f"}, code: CodeInvalidProof},
		{name: "empty", vals: []string{""}, code: CodeInvalidProof},
		{name: "oversized", vals: []string{strings.Repeat("a", 101)}, code: CodeInvalidProof},
		{name: "at the limit", vals: []string{strings.Repeat("a", 100)}, want: strings.Repeat("a", 100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.vals {
				h.Add("Dpop", v)
			}
			got, err := ProofHeader(h, 100)
			if tt.noHdr {
				if !errors.Is(err, ErrNoProof) {
					t.Fatalf("err = %v, want ErrNoProof", err)
				}
				return
			}
			wantCode(t, err, tt.code)
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVerifyRequest reads the header and the method from the request.
func TestVerifyRequest(t *testing.T) {
	k := testKeys(t)["ES256"]
	v := newTestVerifier(t, testenv.NewClock(testNow), Options{})
	r, _ := http.NewRequest(http.MethodPost, "http://10.0.0.5:8080/v1/payments?x=1", nil)
	r.Header.Set("DPoP", validSpec(t, k, testNow).sign(t))
	p, err := v.VerifyRequest(r, testURI, testToken)
	if err != nil {
		t.Fatal(err)
	}
	if p.JKT != k.thumbprint(t) {
		t.Fatalf("jkt = %s", p.JKT)
	}
	r.Method = http.MethodGet
	r.Header.Set("DPoP", validSpec(t, k, testNow).sign(t))
	_, err = v.VerifyRequest(r, testURI, testToken)
	wantReason(t, err, "htm")
	r.Header.Del("DPoP")
	if _, err = v.VerifyRequest(r, testURI, testToken); !errors.Is(err, ErrNoProof) {
		t.Fatalf("err = %v, want ErrNoProof", err)
	}
}

// TestNewVerifier refuses what must never be configured.
func TestNewVerifier(t *testing.T) {
	st, _ := sharedstate.NewMemory(1, sharedstate.MemoryOptions{})
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"alg none", Options{Replay: st, Algorithms: []string{"none"}}, `"none" is not allowed`},
		{"alg HS256", Options{Replay: st, Algorithms: []string{"ES256", "HS256"}}, `"HS256" is not allowed`},
		{"alg twice", Options{Replay: st, Algorithms: []string{"ES256", "ES256"}}, "twice"},
		{"no replay store", Options{}, "replay store"},
		{"negative max age", Options{Replay: st, MaxAge: -time.Second}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewVerifier(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	v, err := NewVerifier(Options{Replay: st})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Challenge().String(); got != `DPoP realm="portcullis", algs="ES256 PS256 EdDSA"` {
		t.Fatalf("challenge = %s", got)
	}
}
