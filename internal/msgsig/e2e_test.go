package msgsig_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/httpsig"
	"github.com/portcullis/portcullis/internal/httpsig/digest"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/keys/keystest"
	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/testissuer"
)

// clientComponents are what the test clients sign: the route's default
// requirement.
var clientComponents = []string{"@method", "@target-uri", "content-digest", "content-type"}

type signer struct {
	kid string
	key crypto.Signer
}

func (s signer) signingKey(t *testing.T) httpsig.SigningKey {
	t.Helper()
	k, err := httpsig.NewSigningKey(s.kid, s.key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signed builds a signed request as a client does: Content-Digest over
// body, then a signature over clientComponents with a fresh nonce.
func signed(t *testing.T, s signer, method, target string, body []byte, now time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	d, _ := digest.Compute(body, digest.SHA256)
	req.Header.Set("Content-Digest", d)
	sg, err := httpsig.NewSigner(httpsig.SignerConfig{Key: s.signingKey(t), Components: clientComponents, Nonce: true,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	msg := &httpsig.Request{Method: method, Header: req.Header,
		Target: httpsig.Target{Scheme: "https", Authority: req.URL.Host, RequestTarget: req.URL.RequestURI()}}
	sig, err := sg.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sig.AddTo(req.Header); err != nil {
		t.Fatal(err)
	}
	return req
}

// resend is req again with the same headers, to body and target.
func resend(t *testing.T, req *http.Request, target string, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest(req.Method, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header = req.Header.Clone()
	return r
}

func clients(env *gatewaytest.Env) map[string]*http.Client {
	tc := &tls.Config{RootCAs: env.CA.Pool(), MinVersion: tls.VersionTLS12}
	return map[string]*http.Client{
		"HTTP/1.1": {Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc.Clone(),
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}},
		"HTTP/2.0": {Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc.Clone(), ForceAttemptHTTP2: true}},
	}
}

// upstreamSaw is what the test upstream reports: whether the gateway's
// signature on the request verified, and what it covered.
type upstreamSaw struct {
	Verified   bool     `json:"verified"`
	Error      string   `json:"error"`
	Consumer   string   `json:"consumer"`
	Components []string `json:"components"`
	Signatures int      `json:"signatures"`
}

// ledger verifies the gateway's signature on every request it gets, as a
// backend relying on the gateway would.
func ledger(t *testing.T, gatewayKey httpsig.Key) http.Handler {
	v, err := httpsig.NewVerifier(httpsig.Policy{
		RequiredComponents: []string{"@method", "@authority", "@path", "@query", "content-digest", "x-forwarded-for", "x-consumer-id", "x-request-id"},
		Label:              "portcullis", RequireNonce: true,
		Replay: func(context.Context, string) (bool, error) { return true, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		saw := upstreamSaw{Consumer: r.Header.Get("X-Consumer-Id"), Signatures: len(r.Header.Values("Signature"))}
		if _, err := digest.Verify(r.Header.Values("Content-Digest"), body); err != nil {
			saw.Error = "digest: " + err.Error()
		} else if res, err := v.Verify(r.Context(), httpsig.IncomingRequest(r, "http", r.Host), func(kid string) (httpsig.Key, error) {
			if kid != "gw-1" {
				return httpsig.Key{}, fmt.Errorf("unknown keyid")
			}
			return gatewayKey, nil
		}); err != nil {
			saw.Error = err.Error()
		} else {
			saw.Verified = true
			for _, c := range res.Components {
				saw.Components = append(saw.Components, c.String())
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/v1/statements") {
			// Larger than message_signing.max_response_bytes.
			_, _ = w.Write(bytes.Repeat([]byte(" "), 600))
		}
		_ = json.NewEncoder(w).Encode(saw)
	})
}

type fixture struct {
	env    *gatewaytest.Env
	gw     *gatewaytest.Gateway
	gwKey  httpsig.Key
	apiA   string
	apiB   string
	a      map[string]signer // consumer A's keys by algorithm
	b      signer            // consumer B's key
	issuer *testissuer.Issuer
}

const routes = `
authenticators:
  - name: keys
    api_key: {}
  - name: idp
    jwt:
      issuers:
        - issuer: "%s"
          audiences: [payments-api]
          jwks_url: "%s"
          ca_file: "%s"
      claims: {consumer: client_id}
upstreams:
  - name: ledger
    targets: ["%s"]
routes:
  - name: transfers
    prefix: /v1/transfers
    methods: [POST]
    upstream: ledger
    auth: {authenticators: [keys, idp]}
    signatures:
      verify: {}
      sign_upstream: true
      sign_responses: true
  - name: payments
    prefix: /v1/payments
    methods: [POST]
    upstream: ledger
    auth: {authenticators: [keys]}
    idempotency: {required: true}
    signatures:
      sign_responses: true
  - name: statements
    prefix: /v1/statements
    methods: [POST]
    upstream: ledger
    auth: {authenticators: [keys]}
    signatures:
      sign_responses: true
message_signing:
  max_response_bytes: 512
  key_file: "%s"
  key_id: gw-1
keys:
  store: {path: unused.db}
`

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, nil) }

// newFixtureWith is newFixture with the gateway's shared store (nil: its
// own in memory).
func newFixtureWith(t *testing.T, shared sharedstate.Store) *fixture {
	t.Helper()
	f := &fixture{env: gatewaytest.NewEnv(t), a: map[string]signer{}}
	_, gwPriv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(gwPriv)
	keyFile := filepath.Join(f.env.Dir, "gateway-signing.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	f.gwKey, _ = httpsig.NewKey(gwPriv.Public())
	up := httptest.NewServer(ledger(t, f.gwKey))
	t.Cleanup(up.Close)

	svc := keystest.Service(t, keystest.SQLite(t), keystest.NewSecrets(t), keys.Options{})
	a, b := keystest.Consumer(t, svc, "acme"), keystest.Consumer(t, svc, "other")
	f.apiA, f.apiB = keystest.Key(t, svc, a.ID).Secret, keystest.Key(t, svc, b.ID).Secret
	_, edA, _ := ed25519.GenerateKey(rand.Reader)
	ecA, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaA, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edB, _ := ed25519.GenerateKey(rand.Reader)
	f.a["ed25519"], f.a["ecdsa-p256-sha256"], f.a["rsa-pss-sha512"] = signer{"a-ed", edA}, signer{"a-es", ecA}, signer{"a-rsa", rsaA}
	f.b = signer{"b-ed", edB}
	register := func(consumer string, s signer) {
		jwk, _ := jose.JSONWebKey{Key: s.key.Public(), KeyID: s.kid}.MarshalJSON()
		if _, err := svc.AddSigningKey(context.Background(), keys.SigningKeySpec{ConsumerID: consumer, PublicKey: jwk}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range f.a {
		register(a.ID, s)
	}
	register(b.ID, f.b)

	is, err := testissuer.New(testissuer.Options{CA: f.env.CA})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { is.Close() })
	f.issuer = is
	// The token client "acme-app" of this issuer signs with consumer A's keys.
	if _, err := svc.CreateIdentity(context.Background(), keys.IdentitySpec{ConsumerID: a.ID, Issuer: is.URL(), ClientID: "acme-app"}); err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(f.env.Base("none"), "upstreams:\n  - name: echo\n    targets: [\""+f.env.Upstream+"\"]\n", "", 1) +
		fmt.Sprintf(routes, is.URL(), is.JWKSURL(), f.env.CAFile, up.URL, keyFile)
	f.gw = f.env.Start(t, yaml, gateway.Deps{Log: slog.New(slog.DiscardHandler), Keys: svc, SigningKeys: svc, Shared: shared})
	return f
}

func (f *fixture) token(client string) string {
	claims := f.issuer.Claims("payments-api", "user-1", "payments:write", time.Now(), time.Hour)
	claims["client_id"] = client
	return f.issuer.Sign(claims)
}

// The attack table: every tampering with a signed request is refused with
// 401 and a Signature challenge; a request signed by one of the caller's
// own keys gets through, the upstream can verify the gateway's signature
// over what it received, and the client can verify the gateway's
// signature on the answer.
func TestSignatureAttackTable(t *testing.T) {
	f := newFixture(t)
	body := []byte(`{"from":"acc_1001","to":"acc_2002","amount":"250.00"}`)
	now := time.Now()
	type attempt struct {
		req    *http.Request
		apiKey string // "" : bearer token in req
		again  bool   // send it twice; judge the second answer
	}
	cases := []struct {
		name  string
		build func(base string) attempt
		code  string // "" : success; else the WWW-Authenticate error
	}{
		{"valid ed25519", func(base string) attempt {
			return attempt{req: signed(t, f.a["ed25519"], "POST", base+"/v1/transfers?ref=r1", body, now), apiKey: f.apiA}
		}, ""},
		{"valid ecdsa-p256-sha256", func(base string) attempt {
			return attempt{req: signed(t, f.a["ecdsa-p256-sha256"], "POST", base+"/v1/transfers", body, now), apiKey: f.apiA}
		}, ""},
		{"valid rsa-pss-sha512", func(base string) attempt {
			return attempt{req: signed(t, f.a["rsa-pss-sha512"], "POST", base+"/v1/transfers", body, now), apiKey: f.apiA}
		}, ""},
		{"token caller mapped to consumer A", func(base string) attempt {
			r := signed(t, f.a["ed25519"], "POST", base+"/v1/transfers", body, now)
			r.Header.Set("Authorization", "Bearer "+f.token("acme-app"))
			return attempt{req: r}
		}, ""},
		{"changed body", func(base string) attempt {
			r := signed(t, f.a["ed25519"], "POST", base+"/v1/transfers", body, now)
			return attempt{req: resend(t, r, base+"/v1/transfers", bytes.Replace(body, []byte("250.00"), []byte("950.00"), 1)), apiKey: f.apiA}
		}, "digest_mismatch"},
		{"changed body and digest", func(base string) attempt {
			r := signed(t, f.a["ed25519"], "POST", base+"/v1/transfers", body, now)
			other := bytes.Replace(body, []byte("250.00"), []byte("950.00"), 1)
			r = resend(t, r, base+"/v1/transfers", other)
			d, _ := digest.Compute(other, digest.SHA256)
			r.Header.Set("Content-Digest", d)
			return attempt{req: r, apiKey: f.apiA}
		}, "invalid"},
		{"changed path", func(base string) attempt {
			r := signed(t, f.a["ed25519"], "POST", base+"/v1/transfers/acc_1001", body, now)
			return attempt{req: resend(t, r, base+"/v1/transfers/acc_6666", body), apiKey: f.apiA}
		}, "invalid"},
		{"changed query", func(base string) attempt {
			r := signed(t, f.a["ed25519"], "POST", base+"/v1/transfers?ref=r1", body, now)
			return attempt{req: resend(t, r, base+"/v1/transfers?ref=r2", body), apiKey: f.apiA}
		}, "invalid"},
		{"removed covered header", func(base string) attempt {
			r := signed(t, f.a["ed25519"], "POST", base+"/v1/transfers", body, now)
			r.Header.Del("Content-Type")
			return attempt{req: r, apiKey: f.apiA}
		}, "missing_component"},
		{"expired", func(base string) attempt {
			return attempt{req: signed(t, f.a["ed25519"], "POST", base+"/v1/transfers", body, now.Add(-10*time.Minute)), apiKey: f.apiA}
		}, "expired"},
		{"replayed nonce", func(base string) attempt {
			return attempt{req: signed(t, f.a["ed25519"], "POST", base+"/v1/transfers", body, now), apiKey: f.apiA, again: true}
		}, "replayed"},
		{"wrong key id", func(base string) attempt {
			return attempt{req: signed(t, signer{"no-such-key", f.a["ed25519"].key}, "POST", base+"/v1/transfers", body, now), apiKey: f.apiA}
		}, "unknown_key"},
		{"key of another consumer", func(base string) attempt {
			return attempt{req: signed(t, f.b, "POST", base+"/v1/transfers", body, now), apiKey: f.apiA}
		}, "unknown_key"},
		{"consumer A's keyid signed with B's key", func(base string) attempt {
			return attempt{req: signed(t, signer{"a-ed", f.b.key}, "POST", base+"/v1/transfers", body, now), apiKey: f.apiA}
		}, "invalid"},
		{"token caller of another client", func(base string) attempt {
			r := signed(t, f.a["ed25519"], "POST", base+"/v1/transfers", body, now)
			r.Header.Set("Authorization", "Bearer "+f.token("someone-else"))
			return attempt{req: r}
		}, "unknown_key"},
	}
	for proto, c := range clients(f.env) {
		t.Run(proto, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					a := tc.build(f.gw.URL)
					if a.apiKey != "" {
						a.req.Header.Set("X-API-Key", a.apiKey)
					}
					var reqBody []byte
					if a.req.Body != nil {
						reqBody, _ = io.ReadAll(a.req.Body)
						a.req.Body = io.NopCloser(bytes.NewReader(reqBody))
					}
					if a.again {
						if first := gatewaytest.Do(t, c, a.req.Clone(context.Background())); first.Status != 200 {
							t.Fatalf("first send: %d %s", first.Status, first.Body)
						}
						a.req.Body = io.NopCloser(bytes.NewReader(reqBody))
					}
					r := gatewaytest.Do(t, c, a.req)
					if tc.code == "" {
						f.accepted(t, r)
						return
					}
					refused(t, r, tc.code)
				})
			}
			t.Run("no signature", func(t *testing.T) {
				req, _ := http.NewRequest("POST", f.gw.URL+"/v1/transfers", bytes.NewReader(body))
				req.Header.Set("X-API-Key", f.apiA)
				r := gatewaytest.Do(t, c, req)
				if r.Status != 401 || r.Header.Get("Www-Authenticate") != `Signature realm="portcullis"` ||
					r.Header.Get("Accept-Signature") != `sig1=("@method" "@target-uri" "content-digest" "content-type");created;nonce` ||
					r.Problem(t)["type"] != "https://portcullis.dev/problems/signature-missing" {
					t.Fatalf("%d %v %s", r.Status, r.Header, r.Body)
				}
			})
		})
	}
}

// accepted checks a request that got through: the upstream verified the
// gateway's signature over what it received (forwarding and identity
// headers included), and the answer carries the gateway's signature.
func (f *fixture) accepted(t *testing.T, r gatewaytest.Response) {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	var saw upstreamSaw
	if err := json.Unmarshal(r.Body, &saw); err != nil {
		t.Fatal(err)
	}
	if !saw.Verified || saw.Signatures != 1 || saw.Consumer == "" {
		t.Fatalf("upstream: %+v", saw)
	}
	for _, want := range []string{`"x-forwarded-for"`, `"forwarded"`, `"x-consumer-id"`, `"content-digest"`, `"@authority"`} {
		if !strings.Contains(strings.Join(saw.Components, " "), want) {
			t.Fatalf("the gateway's signature does not cover %s: %v", want, saw.Components)
		}
	}
	v, _ := httpsig.NewVerifier(httpsig.Policy{RequiredComponents: []string{"@status", "content-digest", "content-type"}, RequireNonce: false})
	resp := &httpsig.Response{Status: r.Status, Header: r.Header}
	if _, err := v.VerifyResponse(context.Background(), resp, func(string) (httpsig.Key, error) { return f.gwKey, nil }); err != nil {
		t.Fatalf("the response signature: %v (%v)", err, r.Header)
	}
	if _, err := digest.Verify(r.Header.Values("Content-Digest"), r.Body); err != nil {
		t.Fatalf("the response digest: %v", err)
	}
}

func refused(t *testing.T, r gatewaytest.Response, code string) {
	t.Helper()
	p := r.Problem(t)
	if r.Status != 401 || p["type"] != "https://portcullis.dev/problems/signature-invalid" || p["error"] != code ||
		!strings.HasPrefix(r.Header.Get("Www-Authenticate"), `Signature realm="portcullis", error="`+code+`"`) ||
		r.Header.Get("Accept-Signature") == "" {
		t.Fatalf("want 401 %s: %d %v %s", code, r.Status, r.Header, r.Body)
	}
}

// flakyNonces is a shared store whose nonce checks fail while down is set.
type flakyNonces struct {
	sharedstate.Store
	down atomic.Bool
}

func (f *flakyNonces) Seen(ctx context.Context, k sharedstate.Key, ttl time.Duration) (bool, error) {
	if f.down.Load() {
		return false, sharedstate.ErrUnavailable
	}
	return f.Store.Seen(ctx, k, ttl)
}

// A replayed answer is signed like a fresh one (a new signature, the
// replay header included); an answer too large to sign is never sent
// unsigned; a nonce that cannot be checked fails closed (503).
func TestSignedReplaysAndFailures(t *testing.T) {
	mem, err := sharedstate.NewMemory(1000, sharedstate.MemoryOptions{Limits: sharedstate.Limits{MaxMetaBytes: 256, MaxValueBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	nonces := &flakyNonces{Store: mem}
	f := newFixtureWith(t, nonces)
	body := []byte(`{"amount":"10.00"}`)
	for proto, c := range clients(f.env) {
		t.Run(proto, func(t *testing.T) {
			pay := func() gatewaytest.Response {
				req, _ := http.NewRequest("POST", f.gw.URL+"/v1/payments", bytes.NewReader(body))
				req.Header.Set("X-API-Key", f.apiA)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", proto+"-signed-replay")
				return gatewaytest.Do(t, c, req)
			}
			first, again := pay(), pay()
			if again.Header.Get("Idempotent-Replayed") != "true" || string(again.Body) != string(first.Body) ||
				again.Header.Get("Signature") == first.Header.Get("Signature") {
				t.Fatalf("replay: %v %s\nfirst: %v", again.Header, again.Body, first.Header)
			}
			for name, r := range map[string]gatewaytest.Response{"first": first, "replay": again} {
				v, _ := httpsig.NewVerifier(httpsig.Policy{RequiredComponents: []string{"@status", "content-digest", "content-type"}})
				if _, err := v.VerifyResponse(context.Background(), &httpsig.Response{Status: r.Status, Header: r.Header},
					func(string) (httpsig.Key, error) { return f.gwKey, nil }); err != nil {
					t.Fatalf("%s: response signature: %v", name, err)
				}
				if _, err := digest.Verify(r.Header.Values("Content-Digest"), r.Body); err != nil {
					t.Fatalf("%s: digest: %v", name, err)
				}
			}

			req, _ := http.NewRequest("POST", f.gw.URL+"/v1/statements", bytes.NewReader(body))
			req.Header.Set("X-API-Key", f.apiA)
			r := gatewaytest.Do(t, c, req)
			if r.Status != 502 || r.Problem(t)["type"] != "https://portcullis.dev/problems/response-not-signable" || r.Header.Get("Signature") != "" {
				t.Fatalf("too large to sign: %d %v %s", r.Status, r.Header, r.Body)
			}

			nonces.down.Store(true)
			defer nonces.down.Store(false)
			sreq := signed(t, f.a["ed25519"], "POST", f.gw.URL+"/v1/transfers", body, time.Now())
			sreq.Header.Set("X-API-Key", f.apiA)
			r = gatewaytest.Do(t, c, sreq)
			if r.Status != 503 || r.Problem(t)["type"] != "https://portcullis.dev/problems/signature-unavailable" || r.Header.Get("Retry-After") != "1" {
				t.Fatalf("nonce store down: %d %v %s", r.Status, r.Header, r.Body)
			}
		})
	}
}
