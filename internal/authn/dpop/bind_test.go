package dpop

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/testenv"
)

// TestThumbprintRFC7638 checks the proof key's jkt against the example of
// RFC 7638 §3.1, so a token's cnf.jkt made by any conforming issuer matches.
func TestThumbprintRFC7638(t *testing.T) {
	const jwk = `{"kty":"RSA","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}`
	const want = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON([]byte(jwk)); err != nil {
		t.Fatal(err)
	}
	if got, err := Thumbprint(k.Key); err != nil || got != want {
		t.Fatalf("Thumbprint = %s, %v; want %s", got, err, want)
	}
	if _, err := Thumbprint(testKeys(t)["ES256"].priv); err == nil {
		t.Fatal("Thumbprint of a private key")
	}
}

// TestBind: the access token's cnf.jkt must be the proof key's thumbprint.
func TestBind(t *testing.T) {
	keys := testKeys(t)
	v := newTestVerifier(t, testenv.NewClock(testNow), Options{})
	p, err := v.Verify(context.Background(), validSpec(t, keys["ES256"], testNow).sign(t), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		cnf    any
		proof  *Proof
		reason string // "" for bound
	}{
		{name: "bound", cnf: map[string]any{"jkt": keys["ES256"].thumbprint(t)}, proof: p},
		{name: "bound, other cnf members", cnf: map[string]any{"jkt": keys["ES256"].thumbprint(t), "x5t#S256": "x"}, proof: p},
		{name: "jkt of another key", cnf: map[string]any{"jkt": keys["EdDSA"].thumbprint(t)}, proof: p, reason: "not the proof key"},
		{name: "jkt differs in case", cnf: map[string]any{"jkt": strings.ToUpper(keys["ES256"].thumbprint(t))}, proof: p, reason: "not the proof key"},
		{name: "jkt empty", cnf: map[string]any{"jkt": ""}, proof: p, reason: "no cnf.jkt"},
		{name: "jkt not a string", cnf: map[string]any{"jkt": 1}, proof: p, reason: "no cnf.jkt"},
		{name: "cnf without jkt", cnf: map[string]any{"x5t#S256": "x"}, proof: p, reason: "no cnf.jkt"},
		{name: "no cnf (a bearer token)", cnf: nil, proof: p, reason: "no cnf.jkt"},
		{name: "cnf a string", cnf: keys["ES256"].thumbprint(t), proof: p, reason: "no cnf.jkt"},
		{name: "no proof", cnf: map[string]any{"jkt": keys["ES256"].thumbprint(t)}, reason: "no verified proof"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Bind(tt.cnf, tt.proof)
			if tt.reason == "" {
				wantCode(t, err, "")
				return
			}
			wantCode(t, err, CodeInvalidToken)
			wantReason(t, err, tt.reason)
		})
	}
	if jkt, ok := BoundJKT(map[string]any{"jkt": "abc"}); !ok || jkt != "abc" {
		t.Fatalf("BoundJKT = %q %v", jkt, ok)
	}
	if _, ok := BoundJKT(map[string]any{}); ok {
		t.Fatal("BoundJKT of an empty cnf")
	}
}

// TestUnauthorized: the exact 401 a client sees for each error kind.
func TestUnauthorized(t *testing.T) {
	clock := testenv.NewClock(testNow)
	nonces := newTestNonces(t, clock, secretA)
	v := newTestVerifier(t, clock, Options{Nonces: nonces})
	k := testKeys(t)["EdDSA"]
	_, nonceErr := v.Verify(context.Background(), validSpec(t, k, testNow).sign(t), testRequest())
	bad := validSpec(t, k, testNow)
	bad.hdr["typ"] = "JWT\"\r\nX-Evil: 1"
	_, proofErr := v.Verify(context.Background(), bad.sign(t), testRequest())
	const ch = `DPoP realm="portcullis", algs="ES256 PS256 EdDSA"`
	tests := []struct {
		name   string
		err    error
		status int
		www    string
		nonce  string
	}{
		{"invalid proof", proofErr, 401,
			ch + `, error="invalid_dpop_proof", error_description="The DPoP proof is invalid."`, ""},
		{"use nonce", nonceErr, 401,
			ch + `, error="use_dpop_nonce", error_description="` + descUseNonce + `"`, nonces.Current()},
		{"not bound", Bind(nil, &Proof{}), 401,
			ch + `, error="invalid_token", error_description="The access token is not bound to the DPoP proof key."`, ""},
		{"access token rejected by its authenticator", fmt.Errorf("jwt: %w", authn.Reject("expired", "The access token has expired.")), 401,
			ch + `, error="invalid_token", error_description="The access token has expired."`, ""},
		{"two Authorization headers", &authn.Unauthenticated{Code: CodeInvalidRequest, Description: "Send exactly one Authorization header."}, 401,
			ch + `, error="invalid_request", error_description="Send exactly one Authorization header."`, ""},
		{"replay store down", fmt.Errorf("%w: %w", ErrReplayCheck, errors.New("redis: connection refused")), 503, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pe := Unauthorized(v.Challenge(), tt.err)
			if pe.Status != tt.status {
				t.Fatalf("status = %d, want %d", pe.Status, tt.status)
			}
			if got := pe.Header.Get("WWW-Authenticate"); got != tt.www {
				t.Fatalf("WWW-Authenticate = %s\nwant               %s", got, tt.www)
			}
			if got := pe.Header.Get("DPoP-Nonce"); got != tt.nonce {
				t.Fatalf("DPoP-Nonce = %q, want %q", got, tt.nonce)
			}
			if tt.nonce != "" && len(pe.Header.Values("DPoP-Nonce")) != 1 {
				t.Fatal("several DPoP-Nonce headers")
			}
			if strings.Contains(pe.Detail, "redis") || strings.Contains(pe.Detail, "X-Evil") {
				t.Fatalf("detail leaks: %q", pe.Detail)
			}
		})
	}
}

// TestAccessToken reads "Authorization: DPoP <token>".
func TestAccessToken(t *testing.T) {
	tests := []struct {
		name string
		hdrs []string
		want string
		code string // "" ok; "na" not applicable
	}{
		{name: "dpop", hdrs: []string{"DPoP abc.def"}, want: "abc.def"},
		{name: "scheme case-insensitive", hdrs: []string{"dpop abc"}, want: "abc"},
		{name: "none", code: "na"},
		{name: "bearer", hdrs: []string{"Bearer abc"}, code: "na"},
		{name: "two headers", hdrs: []string{"DPoP abc", "Bearer abc"}, code: CodeInvalidRequest},
		{name: "empty token", hdrs: []string{"DPoP "}, code: CodeInvalidRequest},
		{name: "too long", hdrs: []string{"DPoP " + strings.Repeat("a", 11)}, code: CodeInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, "https://api.example.com/", nil)
			for _, h := range tt.hdrs {
				r.Header.Add("Authorization", h)
			}
			got, err := AccessToken(r, 10)
			var ue *authn.Unauthenticated
			switch {
			case tt.code == "na":
				if !errors.Is(err, authn.ErrNotApplicable) {
					t.Fatalf("err = %v, want not applicable", err)
				}
			case tt.code != "":
				if !errors.As(err, &ue) || ue.Code != tt.code {
					t.Fatalf("err = %v, want %s", err, tt.code)
				}
			case err != nil || got != tt.want:
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
