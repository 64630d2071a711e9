package keys_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/keys"
)

func TestGenerateParseRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, kind := range []keys.Kind{keys.KindLive, keys.KindTest, keys.KindAdmin} {
		for i := 0; i < 50; i++ {
			text, tok, err := keys.Generate(kind)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(text, "pcl_"+string(kind)+"_"+tok.ID+"_") {
				t.Fatalf("%q does not start with its kind and id", text)
			}
			got, err := keys.Parse(text)
			if err != nil || got != tok {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", text, got, err, tok)
			}
			if seen[text] || seen[tok.ID] {
				t.Fatalf("duplicate key or id after %d keys", len(seen))
			}
			seen[text], seen[tok.ID] = true, true
			if !keys.CheckID(tok.ID) {
				t.Fatalf("CheckID(%q) = false", tok.ID)
			}
		}
	}
}

// The secret part has 43 base62 characters: 43 × log2(62) ≈ 256.03 bits.
func TestSecretLength(t *testing.T) {
	text, tok, _ := keys.Generate(keys.KindLive)
	secretAndSum := strings.TrimPrefix(text, "pcl_live_"+tok.ID+"_")
	if len(secretAndSum) != 43+6 {
		t.Fatalf("secret+checksum length %d, want 49", len(secretAndSum))
	}
	if len(text) > keys.MaxTokenLen {
		t.Fatalf("len %d > MaxTokenLen %d", len(text), keys.MaxTokenLen)
	}
}

func TestParseMalformed(t *testing.T) {
	good, _, _ := keys.Generate(keys.KindLive)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	tests := []struct {
		name, in, reason string
	}{
		{"empty", "", "unknown prefix"},
		{"bearer prefix", "Bearer " + good, "too long"},
		{"space prefix", " " + good[1:], "unknown prefix"},
		{"other vendor", "ghp_" + good[4:], "unknown prefix"},
		{"unknown kind", "pcl_prod_" + good[9:], "unknown kind"},
		{"truncated", good[:len(good)-1], "wrong length"},
		{"extended", good + "0", "wrong length"},
		{"too long", good + strings.Repeat("x", 100), "too long"},
		{"no separator", good[:21] + "x" + good[22:], "missing separator"},
		{"bad character", good[:30] + "-" + good[31:], "invalid character"},
		{"utf-8", good[:30] + "é" + good[32:], "invalid character"},
		{"typo in secret", flip(good, 40), "checksum mismatch"},
		{"typo in id", flip(good, 12), "checksum mismatch"},
		{"typo in checksum", flip(good, len(good)-2), "checksum mismatch"},
		{"trailing newline", good[:len(good)-1] + "\n", "invalid character"},
		{"live key as test", "pcl_test_" + good[9:], "checksum mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := keys.Parse(tc.in)
			var fe *keys.FormatError
			if !errors.As(err, &fe) || fe.Reason != tc.reason {
				t.Fatalf("Parse = %v, want reason %q", err, tc.reason)
			}
			if tc.in != "" && strings.Contains(err.Error(), tc.in) {
				t.Fatal("the error repeats the credential")
			}
		})
	}
}

func TestParseAllocatesNothing(t *testing.T) {
	good, _, _ := keys.Generate(keys.KindLive)
	if n := testing.AllocsPerRun(100, func() { _, _ = keys.Parse(good) }); n != 0 {
		t.Fatalf("Parse allocates %v times per call", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, k := range []keys.Kind{keys.KindLive, keys.KindTest, keys.KindAdmin} {
		s, _, _ := keys.Generate(k)
		f.Add(s)
		f.Add(s[:len(s)-3])
	}
	f.Add("")
	f.Add("pcl_")
	f.Add("pcl_live_")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := keys.Parse(s)
		if err != nil {
			var fe *keys.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		// Whatever parses is exactly the documented shape.
		if !keys.CheckID(tok.ID) || !strings.HasPrefix(s, "pcl_"+string(tok.Kind)+"_"+tok.ID+"_") ||
			len(s) != len("pcl_"+string(tok.Kind)+"_")+12+1+43+6 {
			t.Fatalf("Parse accepted %q as %+v", s, tok)
		}
	})
}
