package dpop

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testenv"
)

var (
	secretA = bytes.Repeat([]byte{0xa1}, 32)
	secretB = bytes.Repeat([]byte{0xb2}, 32)
)

func newTestNonces(t *testing.T, clock *testenv.Clock, secrets ...[]byte) *Nonces {
	t.Helper()
	n, err := NewNonces(NonceOptions{Secrets: secrets, Period: time.Minute, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNonces: a nonce from any instance sharing the secret is accepted in
// its step and the next one, and nothing else is.
func TestNonces(t *testing.T) {
	start := testNow.Truncate(time.Minute)
	current := func(secret []byte) func(*testing.T, *testenv.Clock) string {
		return func(t *testing.T, c *testenv.Clock) string { return newTestNonces(t, c, secret).Current() }
	}
	tests := []struct {
		name string
		// issue returns a nonce made at start by one instance; another,
		// with checkSecrets (default secretA), checks it at start+after.
		issue        func(t *testing.T, clock *testenv.Clock) string
		checkSecrets [][]byte
		after        time.Duration
		want         bool
	}{
		{name: "current step", issue: current(secretA), after: 59 * time.Second, want: true},
		{name: "previous step", issue: current(secretA), after: 119 * time.Second, want: true},
		{name: "two steps old", issue: current(secretA), after: 120 * time.Second},
		{name: "from the future", issue: func(t *testing.T, c *testenv.Clock) string {
			return newTestNonces(t, testenv.NewClock(c.Now().Add(time.Minute)), secretA).Current()
		}},
		{name: "other secret", issue: current(secretB)},
		{name: "rotated secret still listed", issue: current(secretB), checkSecrets: [][]byte{secretA, secretB}, want: true},
		{name: "forged MAC", issue: func(t *testing.T, c *testenv.Clock) string {
			raw, _ := base64.RawURLEncoding.DecodeString(newTestNonces(t, c, secretA).Current())
			raw[len(raw)-1] ^= 1
			return base64.RawURLEncoding.EncodeToString(raw)
		}},
		{name: "moved step, same MAC", issue: func(t *testing.T, c *testenv.Clock) string {
			raw, _ := base64.RawURLEncoding.DecodeString(newTestNonces(t, c, secretA).Current())
			raw[7]++
			return base64.RawURLEncoding.EncodeToString(raw)
		}},
		{name: "empty", issue: func(*testing.T, *testenv.Clock) string { return "" }},
		{name: "padded", issue: func(t *testing.T, c *testenv.Clock) string { return newTestNonces(t, c, secretA).Current() + "=" }},
		{name: "too long", issue: func(*testing.T, *testenv.Clock) string { return strings.Repeat("A", 1000) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := testenv.NewClock(start)
			nonce := tt.issue(t, clock)
			secrets := tt.checkSecrets
			if secrets == nil {
				secrets = [][]byte{secretA}
			}
			check := newTestNonces(t, clock, secrets...)
			clock.Advance(tt.after)
			if got := check.Valid(nonce); got != tt.want {
				t.Fatalf("Valid(%q) = %v, want %v", nonce, got, tt.want)
			}
		})
	}
}

func TestNewNonces(t *testing.T) {
	tests := []struct {
		name string
		opts NonceOptions
		want string
	}{
		{"no secret", NonceOptions{}, "secrets"},
		{"short secret", NonceOptions{Secrets: [][]byte{make([]byte, 31)}}, "at least 32"},
		{"five secrets", NonceOptions{Secrets: [][]byte{secretA, secretA, secretA, secretA, secretA}}, "secrets"},
		{"short period", NonceOptions{Secrets: [][]byte{secretA}, Period: time.Millisecond}, "period"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewNonces(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	n, err := NewNonces(NonceOptions{Secrets: [][]byte{secretA}})
	if err != nil || n.Period() != DefaultNoncePeriod {
		t.Fatalf("default period: %v %v", n, err)
	}
}

// TestVerifyNonce: with nonces required, a proof without the current (or
// previous) nonce is use_dpop_nonce carrying a fresh nonce, also when it
// is otherwise valid, and an accepted nonce does not exempt the proof from
// anything else.
func TestVerifyNonce(t *testing.T) {
	k := testKeys(t)["ES256"]
	start := testNow.Truncate(time.Minute)
	tests := []struct {
		name  string
		nonce func(issuer *Nonces, clock *testenv.Clock) any // nil: no nonce claim
		code  string
	}{
		{"current", func(n *Nonces, _ *testenv.Clock) any { return n.Current() }, ""},
		{"previous step", func(n *Nonces, c *testenv.Clock) any {
			return newTestNoncesAt(n, c.Now().Add(-time.Minute)).Current()
		}, ""},
		{"missing", nil, CodeUseNonce},
		{"stale", func(n *Nonces, c *testenv.Clock) any {
			return newTestNoncesAt(n, c.Now().Add(-2*time.Minute)).Current()
		}, CodeUseNonce},
		{"forged", func(*Nonces, *testenv.Clock) any { return base64.RawURLEncoding.EncodeToString(make([]byte, 24)) }, CodeUseNonce},
		{"other secret", func(_ *Nonces, c *testenv.Clock) any {
			n, _ := NewNonces(NonceOptions{Secrets: [][]byte{secretB}, Period: time.Minute, Now: c.Now})
			return n.Current()
		}, CodeUseNonce},
		{"not a string", func(*Nonces, *testenv.Clock) any { return 42 }, CodeInvalidProof},
		{"oversized", func(*Nonces, *testenv.Clock) any { return strings.Repeat("n", MaxNonceBytes+1) }, CodeInvalidProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := testenv.NewClock(start.Add(30 * time.Second))
			issuer := newTestNonces(t, clock, secretA)
			v := newTestVerifier(t, clock, Options{Nonces: issuer})
			s := validSpec(t, k, clock.Now())
			if tt.nonce != nil {
				s.claims["nonce"] = tt.nonce(issuer, clock)
			}
			_, err := v.Verify(context.Background(), s.sign(t), testRequest())
			wantCode(t, err, tt.code)
			var de *Error
			if errors.As(err, &de) && tt.code == CodeUseNonce && de.Nonce != issuer.Current() {
				t.Fatalf("nonce in error = %q, want the current %q", de.Nonce, issuer.Current())
			}
			if tt.code == CodeUseNonce {
				// The fresh nonce works.
				s.claims["nonce"] = de.Nonce
				s.claims["jti"] = "retry-" + tt.name
				if _, err := v.Verify(context.Background(), s.sign(t), testRequest()); err != nil {
					t.Fatalf("retry with the fresh nonce: %v", err)
				}
			}
		})
	}
	t.Run("nonce does not excuse a bad htm", func(t *testing.T) {
		clock := testenv.NewClock(start)
		issuer := newTestNonces(t, clock, secretA)
		v := newTestVerifier(t, clock, Options{Nonces: issuer})
		s := validSpec(t, k, clock.Now())
		s.claims["nonce"] = issuer.Current()
		s.claims["htm"] = "GET"
		_, err := v.Verify(context.Background(), s.sign(t), testRequest())
		wantCode(t, err, CodeInvalidProof)
	})
	t.Run("nonce claim ignored when nonces are off", func(t *testing.T) {
		v := newTestVerifier(t, testenv.NewClock(testNow), Options{})
		s := validSpec(t, k, testNow)
		s.claims["nonce"] = "anything"
		p, err := v.Verify(context.Background(), s.sign(t), testRequest())
		if err != nil || p.Nonce != "anything" {
			t.Fatalf("p = %+v, err = %v", p, err)
		}
	})
}

// newTestNoncesAt is n's issuer (same secrets and period) with a clock at t.
func newTestNoncesAt(n *Nonces, t time.Time) *Nonces {
	cp := *n
	cp.now = func() time.Time { return t }
	return &cp
}
