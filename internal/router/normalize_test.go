package router

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
		bad            bool
	}{
		{name: "root", in: "/", want: "/"},
		{name: "plain", in: "/v1/accounts", want: "/v1/accounts"},
		{name: "trailing slash kept", in: "/v1/accounts/", want: "/v1/accounts/"},
		{name: "double slashes collapsed", in: "//v1///accounts", want: "/v1/accounts"},
		{name: "trailing double slash", in: "/v1//", want: "/v1/"},
		{name: "only slashes", in: "///", want: "/"},
		{name: "unreserved escapes decoded", in: "/v1/%61ccounts", want: "/v1/accounts"},
		{name: "space decoded", in: "/v1/a%20b", want: "/v1/a b"},
		{name: "dot inside segment ok", in: "/v1/file.json", want: "/v1/file.json"},
		{name: "leading dot name ok", in: "/v1/.well-known", want: "/v1/.well-known"},
		{name: "triple dot ok", in: "/v1/...", want: "/v1/..."},
		{name: "empty", in: "", bad: true},
		{name: "relative", in: "v1/accounts", bad: true},
		{name: "asterisk", in: "*", bad: true},
		{name: "dot-dot", in: "/v1/../admin", bad: true},
		{name: "dot", in: "/v1/./admin", bad: true},
		{name: "trailing dot-dot", in: "/v1/..", bad: true},
		{name: "encoded dot-dot", in: "/v1/%2e%2e/admin", bad: true},
		{name: "encoded dot-dot upper", in: "/v1/%2E%2E/admin", bad: true},
		{name: "mixed dot-dot", in: "/v1/.%2e/admin", bad: true},
		{name: "encoded slash", in: "/v1/a%2fb", bad: true},
		{name: "encoded slash upper", in: "/v1/a%2Fb", bad: true},
		{name: "encoded backslash", in: "/v1/a%5cb", bad: true},
		{name: "raw backslash", in: "/v1/a\\..\\admin", bad: true},
		{name: "tomcat dot-dot-semicolon", in: "/v1/..;/admin", bad: true},
		{name: "dot-semicolon", in: "/v1/.;x/admin", bad: true},
		{name: "double encoded dot", in: "/v1/%252e%252e/admin", bad: true},
		{name: "double encoded slash", in: "/v1/a%252fb", bad: true},
		{name: "nul", in: "/v1/a%00b", bad: true},
		{name: "control", in: "/v1/a%0ab", bad: true},
		{name: "bad escape", in: "/v1/%zz", bad: true},
		{name: "truncated escape", in: "/v1/%2", bad: true},
		{name: "iis unicode escape", in: "/v1/%u002e%u002e/admin", bad: true},
		{name: "utf-8 decoded", in: "/v1/caf%C3%A9", want: "/v1/caf\u00e9"},
		{name: "raw utf-8 kept", in: "/v1/caf\u00e9", want: "/v1/caf\u00e9"},
		{name: "full-width dots are valid utf-8", in: "/v1/%EF%BC%8E%EF%BC%8E/admin", want: "/v1/\uff0e\uff0e/admin"},
		{name: "overlong dot (2 bytes)", in: "/v1/%c0%ae%c0%ae/admin", bad: true},
		{name: "overlong dot (3 bytes)", in: "/v1/%e0%80%ae%e0%80%ae/admin", bad: true},
		{name: "overlong slash", in: "/v1/..%c0%af..%c0%afadmin", bad: true},
		{name: "overlong backslash", in: "/v1/..%c1%9c..%c1%9cadmin", bad: true},
		{name: "overlong raw", in: "/v1/\xc0\xae\xc0\xae/admin", bad: true},
		{name: "lone continuation byte", in: "/v1/a%80b", bad: true},
		{name: "truncated sequence", in: "/v1/a%e2%82", bad: true},
		{name: "utf-16 surrogate", in: "/v1/%ed%a0%80", bad: true},
		{name: "latin-1 byte", in: "/v1/caf%e9", bad: true},
		{name: "raw latin-1 byte", in: "/v1/caf\xe9", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrInvalidPath) {
					t.Fatalf("Normalize(%q) = %q, %v; want ErrInvalidPath", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// FuzzNormalize checks the invariants every accepted path has: it starts
// with "/", has no empty or dot segment, no backslash or control byte, and
// normalising it again changes nothing that would change its meaning.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"/", "/v1/a", "//a//b/", "/%2e%2e/", "/a%2fb", "/..;/", "/%252e", "/a b", "/%41",
		"/%c0%ae%c0%ae/", "/%e0%80%ae/", "/\xc0\xae/", "/%ef%bc%8e%ef%bc%8e/", "/caf\u00e9", "/a%80", "/%ed%a0%80", "/%f4%90%80%80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := Normalize(in)
		if err != nil {
			return
		}
		if !strings.HasPrefix(out, "/") {
			t.Fatalf("%q -> %q: no leading slash", in, out)
		}
		segs := strings.Split(out[1:], "/")
		for i, s := range segs {
			if s == "" && i != len(segs)-1 {
				t.Fatalf("%q -> %q: empty segment", in, out)
			}
			head, _, _ := strings.Cut(s, ";")
			if head == "." || head == ".." {
				t.Fatalf("%q -> %q: dot segment", in, out)
			}
		}
		if !utf8.ValidString(out) {
			t.Fatalf("%q -> %q: not UTF-8", in, out)
		}
		for i := 0; i < len(out); i++ {
			if c := out[i]; c < 0x20 || c == 0x7f || c == '\\' {
				t.Fatalf("%q -> %q: forbidden byte %#x", in, out, c)
			}
		}
	})
}
