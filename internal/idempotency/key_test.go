package idempotency

import (
	"errors"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	long := strings.Repeat("k", DefaultMaxLen)
	tests := []struct {
		name   string
		lines  []string
		maxLen int
		want   string
		err    error
	}{
		{"draft example", []string{`"8e03978e-40d5-43e8-bc93-6894a57f9324"`}, 0, "8e03978e-40d5-43e8-bc93-6894a57f9324", nil},
		{"bare uuid (Stripe style)", []string{"8e03978e-40d5-43e8-bc93-6894a57f9324"}, 0, "8e03978e-40d5-43e8-bc93-6894a57f9324", nil},
		{"bare base64", []string{"a+b/c=="}, 0, "a+b/c==", nil},
		{"quoted with space and escapes", []string{`"order 42 \"x\" \\ y"`}, 0, `order 42 "x" \ y`, nil},
		{"quoted with parameters", []string{`"abc";v=1`}, 0, "abc", nil},
		{"surrounding whitespace", []string{" \t\"abc\" "}, 0, "abc", nil},
		{"at the default bound", []string{long}, 0, long, nil},
		{"over the default bound", []string{long + "k"}, 0, "", ErrTooLong},
		{"quoted over the bound", []string{`"` + long + `k"`}, 0, "", ErrTooLong},
		{"escapes count once", []string{`"` + strings.Repeat(`\"`, 10) + `"`}, 10, strings.Repeat(`"`, 10), nil},
		{"configured bound", []string{"abcdef"}, 5, "", ErrTooLong},
		{"huge input refused before parsing", []string{`"` + strings.Repeat("a", 1<<20) + `"`}, 0, "", ErrTooLong},
		{"absent", nil, 0, "", ErrMissing},
		{"repeated", []string{"a", "b"}, 0, "", ErrMultiple},
		{"empty", []string{""}, 0, "", ErrEmpty},
		{"blank", []string{"  "}, 0, "", ErrEmpty},
		{"empty quoted", []string{`""`}, 0, "", ErrEmpty},
		{"control character quoted", []string{"\"a\x01b\""}, 0, "", ErrMalformed},
		{"control character bare", []string{"a\x01b"}, 0, "", ErrMalformed},
		{"tab inside", []string{"\"a\tb\""}, 0, "", ErrMalformed},
		{"newline", []string{"a\nb"}, 0, "", ErrMalformed},
		{"non-ASCII", []string{"caf\xc3\xa9"}, 0, "", ErrMalformed},
		{"non-ASCII quoted", []string{"\"caf\xc3\xa9\""}, 0, "", ErrMalformed},
		{"bare with space", []string{"a b"}, 0, "", ErrMalformed},
		{"bare with comma (two keys?)", []string{"a,b"}, 0, "", ErrMalformed},
		{"unterminated quote", []string{`"abc`}, 0, "", ErrMalformed},
		{"trailing garbage", []string{`"abc" x`}, 0, "", ErrMalformed},
		{"structured list", []string{`"a", "b"`}, 0, "", ErrMalformed},
		{"token is not a string", []string{`abc;x=1`}, 0, "", ErrMalformed},
		{"integer quoted form absent", []string{`"a"=1`}, 0, "", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKey(tc.lines, tc.maxLen)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("key %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{`"8e03978e-40d5"`, "8e03978e-40d5", `"a\"b";x=1`, "", `"`, "a b", "\"\x7f\""} {
		f.Add(s, 0)
	}
	f.Fuzz(func(t *testing.T, v string, maxLen int) {
		key, err := ParseKey([]string{v}, maxLen%600)
		if err != nil {
			if key != "" {
				t.Fatalf("key %q with error %v", key, err)
			}
			return
		}
		bound := maxLen % 600
		if bound <= 0 {
			bound = DefaultMaxLen
		}
		if key == "" || len(key) > bound {
			t.Fatalf("key %q (len %d) accepted with bound %d", key, len(key), bound)
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] > 0x7e {
				t.Fatalf("key %q holds byte %#x", key, key[i])
			}
		}
		// A bare key that parsed is also a valid quoted key with the same
		// value: the two forms never disagree.
		if v[0] != '"' && v[0] != ' ' && v[0] != '\t' {
			q, err := ParseKey([]string{`"` + key + `"`}, maxLen%600)
			if err != nil || q != key {
				t.Fatalf("bare %q, quoted %q, %v", key, q, err)
			}
		}
	})
}
