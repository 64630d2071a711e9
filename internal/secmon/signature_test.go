package secmon

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerifySignature(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	body := []byte(`{"id":"x"}`)
	t0 := time.Unix(1_900_000_000, 0)
	good := Sign(secret, t0, body)
	other := Sign([]byte(strings.Repeat("o", 32)), t0, body)
	for _, tc := range []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", good, body, t0, nil},
		{"valid within tolerance", good, body, t0.Add(4 * time.Minute), nil},
		{"rotating secrets: one of two matches", other + "," + good[strings.Index(good, "v1="):], body, t0, nil},
		{"replayed later", good, body, t0.Add(6 * time.Minute), ErrSignatureTooOld},
		{"from the future", good, body, t0.Add(-6 * time.Minute), ErrSignatureTooOld},
		{"other body", good, []byte(`{"id":"y"}`), t0, ErrSignatureMismatch},
		{"other secret", other, body, t0, ErrSignatureMismatch},
		{"timestamp moved", strings.Replace(good, "t=1900000000", "t=1900000001", 1), body, t0, ErrSignatureMismatch},
		{"no timestamp", good[strings.Index(good, "v1="):], body, t0, ErrBadSignatureHeader},
		{"no signature", "t=1900000000", body, t0, ErrBadSignatureHeader},
		{"two timestamps", "t=1," + good, body, t0, ErrBadSignatureHeader},
		{"short signature", "t=1900000000,v1=abcd", body, t0, ErrBadSignatureHeader},
		{"signed timestamp", "t=-1900000000,v1=" + strings.Repeat("0", 64), body, t0, ErrBadSignatureHeader},
		{"empty", "", body, t0, ErrBadSignatureHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := VerifySignature(secret, tc.header, tc.body, tc.now, 5*time.Minute); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// The header is untrusted input on the receiving side: any bytes are
// refused or verified, never a panic, and only the real signature passes.
func FuzzVerifySignature(f *testing.F) {
	secret := []byte(strings.Repeat("k", 32))
	t0 := time.Unix(1_900_000_000, 0)
	f.Add(Sign(secret, t0, []byte("b")), []byte("b"))
	f.Add("t=1900000000,v1=,v1=zz", []byte(""))
	f.Add("t=99999999999999999999,v1="+strings.Repeat("a", 64), []byte("x"))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := VerifySignature(secret, header, body, t0, 5*time.Minute)
		if err == nil && !strings.Contains(header, Sign(secret, t0, body)[len("t=1900000000,"):]) {
			t.Fatalf("accepted a header without the signature: %q", header)
		}
	})
}
