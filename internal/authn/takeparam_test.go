package authn

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestTakeQueryParam(t *testing.T) {
	tests := []struct {
		name, raw, rest string
		vals            []string
	}{
		{"only", "api_key=abc", "", []string{"abc"}},
		{"middle", "a=1&api_key=abc&b=%2F", "a=1&b=%2F", []string{"abc"}},
		{"escaped name", "api%5Fkey=abc&x", "x", []string{"abc"}},
		{"twice", "api_key=a&api_key=b", "", []string{"a", "b"}},
		{"absent", "a=1&b", "a=1&b", nil},
		{"prefix is not the name", "api_key2=x&xapi_key=y", "api_key2=x&xapi_key=y", nil},
		{"no value", "api_key", "", []string{""}},
		{"bad escape in value", "api_key=%zz", "", []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vals, rest := TakeQueryParam(tc.raw, "api_key")
			if rest != tc.rest || strings.Join(vals, ",") != strings.Join(tc.vals, ",") || len(vals) != len(tc.vals) {
				t.Fatalf("TakeQueryParam(%q) = %q, %q; want %q, %q", tc.raw, vals, rest, tc.vals, tc.rest)
			}
		})
	}
}

func FuzzTakeQueryParam(f *testing.F) {
	for _, s := range []string{"api_key=abc", "a=1&api_key=x&b=2", "api%5Fkey=1", "&&=&api_key", "%zz=1&api_key=%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		vals, rest := TakeQueryParam(raw, "api_key")
		// Nothing named api_key survives, nothing is invented, and what is
		// kept is the input's own text.
		if rest != "" {
			for _, part := range strings.Split(rest, "&") {
				k, _, _ := strings.Cut(part, "=")
				if uk, err := url.QueryUnescape(k); err == nil && uk == "api_key" {
					t.Fatalf("rest %q still holds the parameter", rest)
				}
				if !strings.Contains(raw, part) {
					t.Fatalf("rest part %q is not from %q", part, raw)
				}
			}
		}
		if len(vals) > strings.Count(raw, "&")+1 {
			t.Fatalf("%q: %d values from %d parts", raw, len(vals), strings.Count(raw, "&")+1)
		}
	})
}

// StripBearer removes only the token from the query: the rest reaches the
// upstream byte for byte and in order (a signed URL stays valid).
func TestStripBearerKeepsTheQuery(t *testing.T) {
	r, _ := http.NewRequest("GET", "https://gw.example/x?z=1&access_token=T&a=%2f&b", nil)
	StripBearer(r, TokenSources{Query: true})
	if r.URL.RawQuery != "z=1&a=%2f&b" {
		t.Fatalf("query = %q", r.URL.RawQuery)
	}
}
