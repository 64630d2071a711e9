package sender_test

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/authn/claims"
	"github.com/portcullis/portcullis/internal/authn/sender"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/sharedstate"
	"github.com/portcullis/portcullis/internal/testissuer"
)

// A proof takes room in the replay store only when it is signed by the key
// the token is bound to: proofs by any other key (a stolen token, an
// unbound one) are refused just the same but leave nothing behind, so a
// token is not enough to fill the store and lock everyone out.
func TestOnlyTheTokensKeyFillsTheReplayStore(t *testing.T) {
	store, err := sharedstate.NewMemory(100, sharedstate.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := sender.New(sender.Options{DPoP: ptr(config.WithDefaults(config.DPoPAuth{})), Replay: store})
	if err != nil {
		t.Fatal(err)
	}
	owner, _ := testissuer.NewDPoPKey("ES256")
	thief, _ := testissuer.NewDPoPKey("EdDSA")
	const tok, uri = "a.b.c", "https://api.example.com/accounts"
	tests := []struct {
		name    string
		key     *testissuer.DPoPKey
		cnf     *principal.Confirmation
		code    string // "" for success
		entries int    // in the store afterwards
	}{
		{"proof by another key", thief, &principal.Confirmation{JKT: owner.Thumbprint()}, "invalid_token", 0},
		{"proof for an unbound token", thief, nil, "invalid_token", 0},
		{"proof by the token's key", owner, &principal.Confirmation{JKT: owner.Thumbprint()}, "", 1},
		{"a second proof by the token's key", owner, &principal.Confirmation{JKT: owner.Thumbprint()}, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", uri, nil)
			r.Header.Set("DPoP", tt.key.Proof("GET", uri, tok, time.Now()))
			err := pol.Check(r, tok, sender.DPoP, &principal.Principal{Confirmation: tt.cnf})
			var ue *authn.Unauthenticated
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.code != "" && (!errors.As(err, &ue) || ue.Code != tt.code):
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
			if n := store.Len(); n != tt.entries {
				t.Fatalf("store holds %d entries, want %d", n, tt.entries)
			}
		})
	}
}

// A token's cnf is what it is bound to; one this gateway cannot check
// (another confirmation method, a malformed value) is refused rather than
// taken as unbound.
func TestConfirmation(t *testing.T) {
	tests := []struct {
		name string
		cnf  any // nil: no cnf claim
		want *principal.Confirmation
		bad  bool
	}{
		{"no cnf", nil, nil, false},
		{"jkt", map[string]any{"jkt": "abc"}, &principal.Confirmation{JKT: "abc"}, false},
		{"x5t#S256", map[string]any{"x5t#S256": "def"}, &principal.Confirmation{X5TS256: "def"}, false},
		{"both", map[string]any{"jkt": "abc", "x5t#S256": "def"}, &principal.Confirmation{JKT: "abc", X5TS256: "def"}, false},
		{"not an object", "abc", nil, true},
		{"empty object", map[string]any{}, nil, true},
		{"jwk method", map[string]any{"jwk": map[string]any{"kty": "EC"}}, nil, true},
		{"jkt and an unknown method", map[string]any{"jkt": "abc", "kid": "k1"}, nil, true},
		{"jkt not a string", map[string]any{"jkt": 42.0}, nil, true},
		{"empty jkt", map[string]any{"jkt": ""}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := claims.Set{"sub": "x"}
			if tt.cnf != nil {
				set["cnf"] = tt.cnf
			}
			got, err := sender.Confirmation(set)
			if (err != nil) != tt.bad {
				t.Fatalf("err = %v, want error %v", err, tt.bad)
			}
			switch {
			case tt.want == nil && got != nil:
				t.Fatalf("got %+v, want none", got)
			case tt.want != nil && (got == nil || *got != *tt.want):
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Nonce secrets are read at build, from the environment or a file, and
// refused with their path when missing or short; none is ever echoed.
func TestNonceSecrets(t *testing.T) {
	store, _ := sharedstate.NewMemory(10, sharedstate.MemoryOptions{})
	env := map[string]string{"GOOD": "0123456789abcdef0123456789abcdef", "SHORT": "s3cret-but-short"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name    string
		secrets []config.SecretRef
		want    string
	}{
		{"from the environment", []config.SecretRef{{Env: "GOOD"}}, ""},
		{"unset variable", []config.SecretRef{{Env: "GOOD"}, {Env: "MISSING"}}, "nonce.secrets[1].env: environment variable MISSING is not set"},
		{"too short", []config.SecretRef{{Env: "SHORT"}}, "nonce.secrets[0]: the secret is 16 bytes, at least 32 are needed (openssl rand -base64 48)"},
		{"missing file", []config.SecretRef{{File: "/nonexistent/nonce"}}, "nonce.secrets[0].file: cannot read the secret file: open /nonexistent/nonce: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := config.WithDefaults(config.DPoPAuth{Nonce: &config.DPoPNonce{Secrets: tt.secrets}})
			_, err := sender.New(sender.Options{DPoP: &d, Replay: store, Env: lookup})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("err = %q, want %q", got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
