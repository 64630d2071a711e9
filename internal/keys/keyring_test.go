package keys_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/keys"
)

func key32() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func TestKeyringSealOpen(t *testing.T) {
	k1 := key32()
	ring, err := keys.ParseKeyring("v1:" + k1)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := ring.Seal([]byte("contact@example.com"), []byte("portcullis:consumer:A"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("contact@example.com")) {
		t.Fatal("plaintext visible in the sealed value")
	}
	pt, err := ring.Open(sealed, []byte("portcullis:consumer:A"))
	if err != nil || string(pt) != "contact@example.com" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := ring.Open(sealed, []byte("portcullis:consumer:B")); err == nil {
		t.Fatal("a value sealed for one row opened for another")
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := ring.Open(tampered, []byte("portcullis:consumer:A")); err == nil {
		t.Fatal("a tampered value opened")
	}
	if _, err := ring.Open(sealed[:10], nil); err == nil {
		t.Fatal("a truncated value opened")
	}
	again, _ := ring.Seal([]byte("contact@example.com"), []byte("portcullis:consumer:A"))
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of the same value are equal: nonces are not random")
	}
}

func TestKeyringVersions(t *testing.T) {
	k1, k2 := key32(), key32()
	old, _ := keys.ParseKeyring("v1:" + k1)
	sealed, _ := old.Seal([]byte("x"), nil)
	both, err := keys.ParseKeyring("v2:" + k2 + ", v1:" + k1)
	if err != nil {
		t.Fatal(err)
	}
	if both.Current() != 2 {
		t.Fatalf("current = %d, want the highest version 2", both.Current())
	}
	if pt, err := both.Open(sealed, nil); err != nil || string(pt) != "x" {
		t.Fatalf("v1 value with v1+v2 ring: %q, %v", pt, err)
	}
	resealed, _ := both.Seal([]byte("x"), nil)
	if v, _ := keys.Version(resealed); v != 2 {
		t.Fatalf("new values sealed with v%d", v)
	}
	onlyNew, _ := keys.ParseKeyring("v2:" + k2)
	if _, err := onlyNew.Open(sealed, nil); err == nil || !strings.Contains(err.Error(), "v1") {
		t.Fatalf("v1 value without v1: %v", err)
	}
	bare, err := keys.ParseKeyring(k1)
	if err != nil || bare.Current() != 1 {
		t.Fatalf("bare key = %v, %v", bare, err)
	}
	if pt, err := bare.Open(sealed, nil); err != nil || string(pt) != "x" {
		t.Fatalf("bare key is not v1: %v", err)
	}
}

func TestParseKeyringErrors(t *testing.T) {
	k := key32()
	short := base64.StdEncoding.EncodeToString([]byte("too short"))
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"not base64", "v1:!!!"},
		{"short key", "v1:" + short},
		{"no v prefix", "1:" + k},
		{"zero version", "v0:" + k},
		{"duplicate version", "v1:" + k + ",v1:" + k},
		{"several without versions", k + "," + k},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keys.ParseKeyring(tc.in)
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), k) {
				t.Fatal("the error repeats the key")
			}
		})
	}
}
