package proxy

import (
	"net/url"
	"strings"
	"testing"
)

// A query the upstream gets is one every server splits the same way: no
// ';' separators, no broken escapes; a clean query passes byte for byte,
// and cleaning twice changes nothing.
func FuzzCleanQuery(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "a=1;b=2&c=3", "a=%zz&c=3", "a=%2", "x=%20y+z&_method=PUT", ";", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		out := cleanQuery(q)
		if strings.Contains(out, ";") {
			t.Fatalf("cleanQuery(%q) = %q keeps a ';'", q, out)
		}
		if again := cleanQuery(out); again != out {
			t.Fatalf("cleanQuery(%q) = %q, then %q", q, out, again)
		}
		if _, err := url.ParseQuery(out); err != nil {
			t.Fatalf("cleanQuery(%q) = %q, which does not parse: %v", q, out, err)
		}
		if !strings.Contains(q, ";") && !strings.Contains(q, "%") && out != q {
			t.Fatalf("clean query %q changed to %q", q, out)
		}
	})
}

func TestCleanQuery(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"a=1&b=2", "a=1&b=2"},
		{"z=1&a=%20b", "z=1&a=%20b"},
		{"a=1;b=2&c=3", "c=3"},
		{"a=%zz&c=3", "c=3"},
		{"a=%2", ""},
	} {
		if got := cleanQuery(tt.in); got != tt.want {
			t.Errorf("cleanQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
