package sender_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/testenv"
	"github.com/portcullis/portcullis/internal/testissuer"
)

// attack is one request of the attack table and what the client must see.
type attack struct {
	name string
	// method and path of the request (GET, /dpop unless set).
	method, path string
	// from is who sends it: "" (127.0.0.1, no certificate), "cert" (the
	// client's certificate), "other-cert", "proxy" (the trusted proxy,
	// no certificate) or "proxy-cert" (the trusted proxy presenting the
	// client's certificate as its own).
	from string
	hdr  func(f *fixture) http.Header
	// replayed sends the same request once first (it must pass).
	replayed bool
	status   int
	// challenge is the exact WWW-Authenticate ("" for none).
	challenge string
	// upstream checks what the upstream received (on 200).
	upstream func(t *testing.T, f *fixture, e gatewaytest.Echo)
}

// dpopReq is "Authorization: DPoP tok" with proof.
func dpopReq(tok, proof string) http.Header {
	return hdr("Authorization", "DPoP "+tok, "DPoP", proof)
}

func attacks() []attack {
	return []attack{
		{name: "valid proof", status: 200, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			return dpopReq(tok, f.proof("GET", "/dpop", tok))
		}, upstream: func(t *testing.T, f *fixture, e gatewaytest.Echo) {
			if got := e.Headers["X-Auth-Method"]; !slices.Equal(got, []string{"dpop"}) {
				t.Errorf("upstream X-Auth-Method = %q, want dpop", got)
			}
			if auth := e.Headers["Authorization"]; len(auth) != 1 || len(auth[0]) < 5 || auth[0][:5] != "DPoP " {
				t.Errorf("upstream Authorization = %q, want the verified DPoP token", auth)
			}
			if p, ok := e.Headers["Dpop"]; ok {
				t.Errorf("upstream got the spent proof: %q", p)
			}
		}},
		{name: "valid proof, the query is not part of htu", path: "/dpop?page=2", status: 200, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			return dpopReq(tok, f.proof("GET", "/dpop", tok))
		}},
		{name: "valid EdDSA proof of an EdDSA-bound token", status: 200, hdr: func(f *fixture) http.Header {
			k, err := testissuer.NewDPoPKey("EdDSA")
			if err != nil {
				panic(err)
			}
			tok := f.token(func(c map[string]any) { k.Bind(c) })
			return dpopReq(tok, k.Proof("GET", f.gw.URL+"/dpop", tok, f.clock.Now()))
		}},
		{name: "replayed proof", replayed: true, status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			return dpopReq(tok, f.proof("GET", "/dpop", tok))
		}},
		{name: "wrong htm", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			return dpopReq(tok, f.proof("POST", "/dpop", tok))
		}},
		{name: "htu of another host", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			return dpopReq(tok, f.key.Proof("GET", "https://api.example.com/dpop", tok, f.clock.Now()))
		}},
		{name: "htu of another path", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			return dpopReq(tok, f.proof("GET", "/plain", tok))
		}},
		{name: "htu with the query", path: "/dpop?page=2", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			return dpopReq(tok, f.proof("GET", "/dpop?page=2", tok))
		}},
		{name: "stale iat", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			return dpopReq(tok, f.key.Proof("GET", f.gw.URL+"/dpop", tok, f.clock.Now().Add(-2*time.Minute)))
		}},
		{name: "future iat", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			return dpopReq(tok, f.key.Proof("GET", f.gw.URL+"/dpop", tok, f.clock.Now().Add(time.Minute)))
		}},
		{name: "proof by a key other than cnf.jkt's", status: 401, challenge: notBoundToKey, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			return dpopReq(tok, f.other.Proof("GET", f.gw.URL+"/dpop", tok, f.clock.Now()))
		}},
		{name: "private jwk in the proof", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			h := f.key.ProofHeader()
			h["jwk"] = f.key.PrivateJWK()
			return dpopReq(tok, f.key.SignProof(h, testissuer.ProofClaims("GET", f.gw.URL+"/dpop", tok, f.clock.Now())))
		}},
		{name: "symmetric jwk, HS256", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			secret := []byte("0123456789abcdef0123456789abcdef")
			h := map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": map[string]any{"kty": "oct", "k": b64(string(secret))}}
			return dpopReq(tok, testissuer.HS256(h, mustJSON(testissuer.ProofClaims("GET", f.gw.URL+"/dpop", tok, f.clock.Now())), secret))
		}},
		{name: "symmetric jwk with an asymmetric alg", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			h := f.key.ProofHeader()
			h["jwk"] = map[string]any{"kty": "oct", "k": b64("0123456789abcdef0123456789abcdef")}
			return dpopReq(tok, f.key.SignProof(h, testissuer.ProofClaims("GET", f.gw.URL+"/dpop", tok, f.clock.Now())))
		}},
		{name: "alg none", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			h := f.key.ProofHeader()
			h["alg"] = "none"
			return dpopReq(tok, testissuer.Unsigned(h, mustJSON(testissuer.ProofClaims("GET", f.gw.URL+"/dpop", tok, f.clock.Now()))))
		}},
		{name: "ath of another token", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			return dpopReq(tok, f.proof("GET", "/dpop", f.boundToKey()))
		}},
		{name: "DPoP token without a proof", status: 401, challenge: noProof, hdr: func(f *fixture) http.Header {
			return hdr("Authorization", "DPoP "+f.boundToKey())
		}},
		{name: "two proofs", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			h := dpopReq(tok, f.proof("GET", "/dpop", tok))
			h.Add("DPoP", f.proof("GET", "/dpop", tok))
			return h
		}},
		{name: "unbound token with a proof", status: 401, challenge: notBoundToKey, hdr: func(f *fixture) http.Header {
			tok := f.token(nil)
			return dpopReq(tok, f.proof("GET", "/dpop", tok))
		}},
		{name: "DPoP-bound token as Bearer", status: 401, challenge: dpopChallenge + ", " + boundAsBearer, hdr: func(f *fixture) http.Header {
			return hdr("Authorization", "Bearer "+f.boundToKey())
		}},
		{name: "DPoP-bound token as Bearer, on a route without DPoP", path: "/plain", status: 401,
			challenge: `Bearer realm="portcullis", ` + boundAsBearer, hdr: func(f *fixture) http.Header {
				tok := f.boundToKey()
				return hdr("Authorization", "Bearer "+tok, "DPoP", f.proof("GET", "/plain", tok))
			}},
		{name: "DPoP scheme on a route without DPoP", path: "/plain", status: 401, challenge: `Bearer realm="portcullis"`,
			hdr: func(f *fixture) http.Header {
				tok := f.boundToKey()
				return dpopReq(tok, f.proof("GET", "/plain", tok))
			}},
		{name: "certificate-bound token with its certificate", path: "/plain", from: "cert", status: 200,
			hdr: func(f *fixture) http.Header { return hdr("Authorization", "Bearer "+f.boundToCert()) },
			upstream: func(t *testing.T, f *fixture, e gatewaytest.Echo) {
				if got := e.Headers["X-Auth-Method"]; !slices.Equal(got, []string{"jwt"}) {
					t.Errorf("upstream X-Auth-Method = %q, want jwt", got)
				}
			}},
		{name: "certificate-bound token with its certificate, DPoP route", from: "cert", status: 200,
			hdr: func(f *fixture) http.Header { return hdr("Authorization", "Bearer "+f.boundToCert()) }},
		{name: "certificate-bound token over a connection with another certificate", path: "/plain", from: "other-cert",
			status: 401, challenge: notBoundToCert,
			hdr: func(f *fixture) http.Header { return hdr("Authorization", "Bearer "+f.boundToCert()) }},
		{name: "certificate-bound token over a connection without a certificate", path: "/plain", status: 401,
			challenge: notBoundToCert,
			hdr:       func(f *fixture) http.Header { return hdr("Authorization", "Bearer "+f.boundToCert()) }},
		{name: "certificate-bound token, certificate forwarded by the trusted proxy", path: "/plain", from: "proxy", status: 200,
			hdr: func(f *fixture) http.Header {
				return hdr("Authorization", "Bearer "+f.boundToCert(), "X-SSL-Client-Cert", f.certPEM)
			}},
		{name: "certificate-bound token, certificate header from an untrusted peer", path: "/plain", status: 401,
			challenge: notBoundToCert, hdr: func(f *fixture) http.Header {
				return hdr("Authorization", "Bearer "+f.boundToCert(), "X-SSL-Client-Cert", f.certPEM)
			}},
		{name: "certificate-bound token, the trusted proxy forwards another certificate", path: "/plain", from: "proxy",
			status: 401, challenge: notBoundToCert, hdr: func(f *fixture) http.Header {
				return hdr("Authorization", "Bearer "+f.boundToCert(), "X-SSL-Client-Cert", f.otherCertPEM)
			}},
		{name: "certificate-bound token, the trusted proxy's own TLS certificate", path: "/plain", from: "proxy-cert",
			status: 401, challenge: notBoundToCert,
			hdr: func(f *fixture) http.Header { return hdr("Authorization", "Bearer "+f.boundToCert()) }},
		{name: "htu as the client saw it, through the trusted proxy", from: "proxy", status: 200, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			h := dpopReq(tok, f.key.Proof("GET", "https://api.example.com/dpop", tok, f.clock.Now()))
			h.Set("X-Forwarded-Proto", "https")
			h.Set("X-Forwarded-Host", "api.example.com")
			return h
		}},
		{name: "forwarded host from an untrusted peer", status: 401, challenge: invalidProof, hdr: func(f *fixture) http.Header {
			tok := f.boundToKey()
			h := dpopReq(tok, f.key.Proof("GET", "https://api.example.com/dpop", tok, f.clock.Now()))
			h.Set("X-Forwarded-Proto", "https")
			h.Set("X-Forwarded-Host", "api.example.com")
			return h
		}},
		{name: "ambiguous forwarded host from the trusted proxy", from: "proxy", status: 401, challenge: invalidProof,
			hdr: func(f *fixture) http.Header {
				tok := f.boundToKey()
				h := dpopReq(tok, f.key.Proof("GET", "https://api.example.com/dpop", tok, f.clock.Now()))
				h.Set("X-Forwarded-Host", "api.example.com, evil.example")
				return h
			}},
		{name: "token typed as a DPoP proof", status: 401, challenge: dpopChallenge + `, error="invalid_token", error_description="The access token is invalid."`,
			hdr: func(f *fixture) http.Header {
				c := f.key.Bind(f.issuer.Claims("api", "client-1", "accounts:read", f.clock.Now(), time.Hour))
				tok := f.issuer.SignWith(f.issuer.KidFor("ES256"), c, map[string]any{"typ": "dpop+jwt"})
				return dpopReq(tok, f.proof("GET", "/dpop", tok))
			}},
		{name: "expired unbound token as Bearer", path: "/plain", status: 401,
			challenge: `Bearer realm="portcullis", error="invalid_token", error_description="The access token has expired."`,
			hdr: func(f *fixture) http.Header {
				return hdr("Authorization", "Bearer "+f.token(func(c map[string]any) { c["exp"] = f.clock.Now().Add(-time.Hour).Unix() }))
			}},
	}
}

// TestSenderConstrainedAttacks runs the attack table through the real TLS
// gateway over HTTP/1.1 and HTTP/2. Tokens are verified once and then come
// from the verified-token cache, so most cases check the binding on a
// cache hit.
func TestSenderConstrainedAttacks(t *testing.T) {
	f := newFixture(t, gateway.Deps{})
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			clients := map[string]*http.Client{
				"":           f.client(t, proto, ""),
				"cert":       f.client(t, proto, "", f.cert),
				"other-cert": f.client(t, proto, "", f.otherCert),
				"proxy":      f.client(t, proto, proxyAddr),
				"proxy-cert": f.client(t, proto, proxyAddr, f.cert),
			}
			for _, a := range attacks() {
				t.Run(a.name, func(t *testing.T) {
					method, path := a.method, a.path
					if method == "" {
						method = "GET"
					}
					if path == "" {
						path = "/dpop"
					}
					c := clients[a.from]
					h := a.hdr(f)
					if a.replayed {
						if r := send(t, c, proto, method, f.gw.URL+path, h.Clone()); r.Status != 200 {
							t.Fatalf("first use: status %d, want 200: %s", r.Status, r.Body)
						}
					}
					r := send(t, c, proto, method, f.gw.URL+path, h)
					checkOutcome(t, r, a.status, a.challenge)
					if a.upstream != nil && r.Status == 200 {
						a.upstream(t, f, r.Echo(t))
					}
				})
			}
		})
	}
}

// checkOutcome asserts the status, the exact WWW-Authenticate and, for
// errors, a problem+json body.
func checkOutcome(t *testing.T, r gatewaytest.Response, status int, challenge string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	got := r.Header.Values("Www-Authenticate")
	switch {
	case challenge == "" && len(got) != 0:
		t.Errorf("WWW-Authenticate = %q, want none", got)
	case challenge != "" && !slices.Equal(got, []string{challenge}):
		t.Errorf("WWW-Authenticate =\n  %q\nwant\n  %q", got, challenge)
	}
	if status >= 400 {
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("Content-Type = %q, want application/problem+json", ct)
		}
		if p := r.Problem(t); p["status"] != float64(status) || p["request_id"] == "" {
			t.Errorf("problem body %s", r.Body)
		}
	}
}

// A route that requires server nonces answers a proof without one, or with
// one from two periods ago, with use_dpop_nonce and a fresh nonce in
// DPoP-Nonce, and accepts the proof that carries it.
func TestDPoPNonces(t *testing.T) {
	f := newFixture(t, gateway.Deps{})
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			c := f.client(t, proto, "")
			tok := f.boundToKey()
			call := func(nonce string) gatewaytest.Response {
				claims := testissuer.ProofClaims("GET", f.gw.URL+"/nonce", tok, f.clock.Now())
				if nonce != "" {
					claims["nonce"] = nonce
				}
				return send(t, c, proto, "GET", f.gw.URL+"/nonce", dpopReq(tok, f.key.SignProof(f.key.ProofHeader(), claims)))
			}
			r := call("")
			checkOutcome(t, r, 401, useNonce)
			first := r.Header.Get("DPoP-Nonce")
			if first == "" {
				t.Fatal("no DPoP-Nonce with use_dpop_nonce")
			}
			checkOutcome(t, call(first), 200, "")
			checkOutcome(t, call("not-a-nonce-of-ours"), 401, useNonce)

			f.clock.Advance(2 * time.Minute) // two periods: the nonce is stale
			tok = f.boundToKey()
			r = call(first)
			checkOutcome(t, r, 401, useNonce)
			second := r.Header.Get("DPoP-Nonce")
			if second == "" || second == first {
				t.Fatalf("stale nonce answered with DPoP-Nonce %q (first was %q)", second, first)
			}
			checkOutcome(t, call(second), 200, "")
		})
	}
}

// Two gateway instances sharing a Redis replay store: a proof accepted by
// one is a replay at the other. Both are reached through the trusted proxy
// as https://api.example.com, the one public origin of the deployment.
func TestDPoPReplayAcrossInstances(t *testing.T) {
	rd := testenv.StartRedis(t, testenv.RedisOptions{})
	store := func() sharedstate.Store {
		c := redis.NewClient(&redis.Options{Addr: rd.Addr(), MaxRetries: -1, DisableIdentity: true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
		t.Cleanup(func() { _ = c.Close() })
		st, err := sharedstate.NewRedis(c, "e2e:", sharedstate.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	a := newFixture(t, gateway.Deps{Replay: store()})
	b := &fixture{env: a.env, issuer: a.issuer, clock: a.clock, key: a.key}
	b.gw = a.env.Start(t, a.config(t, senderConfig), a.deps(gateway.Deps{Replay: store()}))
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			tok := a.boundToKey()
			h := dpopReq(tok, a.key.Proof("GET", "https://api.example.com/dpop", tok, a.clock.Now()))
			h.Set("X-Forwarded-Proto", "https")
			h.Set("X-Forwarded-Host", "api.example.com")
			checkOutcome(t, send(t, a.client(t, proto, proxyAddr), proto, "GET", a.gw.URL+"/dpop", h.Clone()), 200, "")
			checkOutcome(t, send(t, b.client(t, proto, proxyAddr), proto, "GET", b.gw.URL+"/dpop", h.Clone()), 401, invalidProof)
			checkOutcome(t, send(t, a.client(t, proto, proxyAddr), proto, "GET", a.gw.URL+"/dpop", h.Clone()), 401, invalidProof)
		})
	}
}

// A replay store that cannot answer fails closed: 503, never a pass.
func TestDPoPReplayStoreDown(t *testing.T) {
	rd := testenv.StartRedis(t, testenv.RedisOptions{})
	c := redis.NewClient(&redis.Options{Addr: rd.Addr(), MaxRetries: -1, DisableIdentity: true,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	t.Cleanup(func() { _ = c.Close() })
	st, err := sharedstate.NewRedis(c, "down:", sharedstate.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, gateway.Deps{Replay: st})
	rd.Stop()
	_ = c.Ping(context.Background())
	for _, proto := range protocols {
		t.Run(proto, func(t *testing.T) {
			tok := f.boundToKey()
			r := send(t, f.client(t, proto, ""), proto, "GET", f.gw.URL+"/dpop", dpopReq(tok, f.proof("GET", "/dpop", tok)))
			checkOutcome(t, r, 503, "")
			if p := r.Problem(t); p["type"] != "https://portcullis.dev/problems/auth-unavailable" {
				t.Errorf("problem type %v", p["type"])
			}
		})
	}
}
