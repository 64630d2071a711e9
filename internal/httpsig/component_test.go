package httpsig

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

var exampleTypes = FieldTypes{"example-dict": FieldDictionary}

// baseLines checks every "identifier: value" line of an RFC figure
// against the component value computed from m. "(SP)" is the RFC's
// notation for a trailing space.
func baseLines(t *testing.T, m Message, figure string) {
	t.Helper()
	for _, line := range strings.Split(baseVector(t, figure), "\n") {
		line = strings.ReplaceAll(line, ":(SP)", ": ")
		ident, want, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("figure line %q", line)
		}
		t.Run(ident, func(t *testing.T) {
			c, err := ParseComponent(ident)
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != ident {
				t.Fatalf("identifier re-serialised as %q", c.String())
			}
			got, err := componentValue(c, m, exampleTypes)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("value %q, want %q", got, want)
			}
		})
	}
}

// TestRFC9421FieldExamples: the field examples of RFC 9421 Section 2.1,
// with the fields parsed by net/textproto (which turns obs-fold into a
// space, as the RFC's canonicalisation does).
func TestRFC9421FieldExamples(t *testing.T) {
	tests := []struct{ fields, base string }{
		{"s2.1-fields.http", "s2.1-base.txt"},
		{"s2.1.1-field.http", "s2.1.1-base.txt"},
		{"s2.1.2-field.http", "s2.1.2-base.txt"},
		{"s2.1.3-fields-multi.http", "s2.1.3-base-multi.txt"},
		{"s2.1.3-field-single.http", "s2.1.3-base-single.txt"},
	}
	for _, tc := range tests {
		t.Run(tc.base, func(t *testing.T) {
			baseLines(t, &Request{Header: fieldsVector(t, tc.fields)}, tc.base)
		})
	}
}

// TestRFC9421QueryParamExamples: Section 2.2.8.
func TestRFC9421QueryParamExamples(t *testing.T) {
	for _, tc := range []struct{ req, base string }{
		{"s2.2.8-request.http", "s2.2.8-base.txt"},
		{"s2.2.8-request-encoded.http", "s2.2.8-base-encoded.txt"},
	} {
		t.Run(tc.base, func(t *testing.T) {
			r := readRequest(t, tc.req)
			baseLines(t, IncomingRequest(r, "https", r.Host), tc.base)
		})
	}
}

// TestDerivedComponents: the examples of RFC 9421 Section 2.2 and the
// normalisation of the explicit target.
func TestDerivedComponents(t *testing.T) {
	tests := []struct {
		name, method, scheme, authority, target, comp, want string
	}{
		{"method", "POST", "https", "www.example.com", "/path?param=value", "@method", "POST"},
		{"method keeps case", "get", "https", "www.example.com", "/", "@method", "get"},
		{"target-uri", "POST", "https", "www.example.com", "/path?param=value", "@target-uri", "https://www.example.com/path?param=value"},
		{"target-uri normalises scheme and host", "GET", "HTTPS", "WWW.Example.COM:443", "/a/%7Eb?X=Y", "@target-uri", "https://www.example.com/a/%7Eb?X=Y"},
		{"target-uri keeps other port", "GET", "https", "example.com:8443", "/", "@target-uri", "https://example.com:8443/"},
		{"target-uri empty query kept", "GET", "https", "example.com", "/p?", "@target-uri", "https://example.com/p?"},
		{"target-uri asterisk", "OPTIONS", "https", "example.com", "*", "@target-uri", "https://example.com"},
		{"authority", "POST", "https", "www.example.com", "/", "@authority", "www.example.com"},
		{"authority http default port", "GET", "http", "Example.com:80", "/", "@authority", "example.com"},
		{"authority https keeps 80", "GET", "https", "example.com:80", "/", "@authority", "example.com:80"},
		{"authority ipv6", "GET", "https", "[2001:DB8::1]:443", "/", "@authority", "[2001:db8::1]"},
		{"authority ipv6 port", "GET", "https", "[2001:db8::1]:8443", "/", "@authority", "[2001:db8::1]:8443"},
		{"scheme", "POST", "http", "www.example.com", "/", "@scheme", "http"},
		{"request-target origin", "POST", "https", "www.example.com", "/path?param=value", "@request-target", "/path?param=value"},
		{"request-target absolute", "GET", "https", "www.example.com", "https://www.example.com/path?param=value", "@request-target", "https://www.example.com/path?param=value"},
		{"request-target authority", "CONNECT", "https", "www.example.com:80", "www.example.com:80", "@request-target", "www.example.com:80"},
		{"request-target asterisk", "OPTIONS", "https", "www.example.com", "*", "@request-target", "*"},
		{"path", "GET", "https", "www.example.com", "/path?param=value", "@path", "/path"},
		{"path not decoded", "GET", "https", "example.com", "/a%2Fb/../c", "@path", "/a%2Fb/../c"},
		{"path of absolute form", "GET", "https", "example.com", "https://example.com/x?y", "@path", "/x"},
		{"path empty is slash", "GET", "https", "example.com", "https://example.com?y", "@path", "/"},
		{"query", "GET", "https", "www.example.com", "/path?param=value&foo=bar&baz=bat%2Dman", "@query", "?param=value&foo=bar&baz=bat%2Dman"},
		{"query string", "POST", "https", "www.example.com", "/path?queryString", "@query", "?queryString"},
		{"query absent", "GET", "https", "www.example.com", "/path", "@query", "?"},
		{"query-param", "GET", "https", "example.com", "/p?a=1&b=2", `"@query-param";name="b"`, "2"},
		{"query-param empty value", "GET", "https", "example.com", "/p?a=&b=2", `"@query-param";name="a"`, ""},
		{"query-param plus and utf-8", "GET", "https", "example.com", "/p?q=caf%C3%A9+au+lait", `"@query-param";name="q"`, "caf%C3%A9%20au%20lait"},
		{"query-param invalid escape kept", "GET", "https", "example.com", "/p?q=100%", `"@query-param";name="q"`, "100%25"},
		{"query-param invalid utf-8", "GET", "https", "example.com", "/p?q=%FF", `"@query-param";name="q"`, "%EF%BF%BD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Request{Method: tc.method, Target: Target{tc.scheme, tc.authority, tc.target}}
			got, err := componentValue(MustComponent(tc.comp), r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("%s = %q, want %q", tc.comp, got, tc.want)
			}
		})
	}
	t.Run("status", func(t *testing.T) {
		got, err := componentValue(MustComponent("@status"), &Response{Status: 200}, nil)
		if err != nil || got != "200" {
			t.Fatalf("@status = %q, %v", got, err)
		}
	})
}

// TestComponentValueErrors: what cannot be derived is an error, never a
// guessed or partial value.
func TestComponentValueErrors(t *testing.T) {
	req := func(h http.Header, target string) *Request {
		return &Request{Method: "GET", Target: Target{"https", "example.com", target}, Header: h}
	}
	tests := []struct {
		name string
		m    Message
		comp string
		want error
	}{
		{"missing field", req(http.Header{}, "/"), "content-digest", ErrComponent},
		{"raw obs-fold", req(http.Header{"X-A": {"a\r\n b"}}, "/"), "x-a", ErrComponent},
		{"bare LF", req(http.Header{"X-A": {"a\nb"}}, "/"), "x-a", ErrComponent},
		{"line break under bs", req(http.Header{"X-A": {"a\nb"}}, "/"), "x-a;bs", ErrComponent},
		{"NUL", req(http.Header{"X-A": {"a\x00b"}}, "/"), "x-a", ErrComponent},
		{"non-ASCII", req(http.Header{"X-A": {"caf\xc3\xa9"}}, "/"), "x-a", ErrComponent},
		{"sf of an unknown type", req(http.Header{"X-A": {"a=1"}}, "/"), "x-a;sf", ErrUnsupported},
		{"key of a list", req(http.Header{"Cache-Status": {"a"}}, "/"), `"cache-status";key="a"`, ErrUnsupported},
		{"key absent", req(http.Header{"Content-Digest": {"sha-256=:AAAA:"}}, "/"), `"content-digest";key="sha-512"`, ErrComponent},
		{"dictionary repeats key", req(http.Header{"Content-Digest": {"a=1", "a=2"}}, "/"), "content-digest;sf", ErrComponent},
		{"sf malformed", req(http.Header{"Content-Digest": {"a=("}}, "/"), "content-digest;sf", ErrComponent},
		{"query-param absent", req(nil, "/p?a=1"), `"@query-param";name="b"`, ErrComponent},
		{"query-param repeated", req(nil, "/p?a=1&a=2"), `"@query-param";name="a"`, ErrComponent},
		{"path of authority-form", req(nil, "example.com:443"), "@path", ErrComponent},
		{"target with space", req(nil, "/a b"), "@path", ErrComponent},
		{"target with fragment", req(nil, "/a#b"), "@query", ErrComponent},
		{"authority with userinfo", &Request{Target: Target{"https", "u@example.com", "/"}}, "@authority", ErrComponent},
		{"authority empty", &Request{Target: Target{"https", "", "/"}}, "@authority", ErrComponent},
		{"authority bad port", &Request{Target: Target{"https", "example.com:x", "/"}}, "@authority", ErrComponent},
		{"scheme other", &Request{Target: Target{"ftp", "example.com", "/"}}, "@scheme", ErrComponent},
		{"method not a token", &Request{Method: "GE T", Target: Target{"https", "example.com", "/"}}, "@method", ErrComponent},
		{"req on a request", req(http.Header{"X-A": {"1"}}, "/"), "x-a;req", ErrMalformed},
		{"req without the request", &Response{Status: 200}, "@method;req", ErrComponent},
		{"status on a request", req(nil, "/"), "@status", ErrMalformed},
		{"request component on a response", &Response{Status: 200}, "@path", ErrMalformed},
		{"trailer absent", req(http.Header{"X-A": {"1"}}, "/"), "x-a;tr", ErrComponent},
		{"status out of range", &Response{Status: 42}, "@status", ErrComponent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := componentValue(MustComponent(tc.comp), tc.m, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFieldValueDoesNotRewriteHeader(t *testing.T) {
	h := http.Header{"X-A": {"  padded  "}}
	if _, err := componentValue(MustComponent("x-a"), &Request{Header: h}, nil); err != nil {
		t.Fatal(err)
	}
	if h.Get("X-A") != "  padded  " {
		t.Fatalf("header rewritten to %q", h.Get("X-A"))
	}
}

func TestFieldValueTrailersAndBinary(t *testing.T) {
	r := &Response{Status: 200, Header: http.Header{"Expires": {"header"}}, Trailer: http.Header{"Expires": {"Wed, 9 Nov 2022 07:28:00 GMT"}}}
	got, err := componentValue(MustComponent("expires;tr"), r, nil)
	if err != nil || got != "Wed, 9 Nov 2022 07:28:00 GMT" {
		t.Fatalf("expires;tr = %q, %v", got, err)
	}
	got, err = componentValue(MustComponent("x-a;bs"), &Request{Header: http.Header{"X-A": {"caf\xc3\xa9 "}}}, nil)
	if err != nil || got != ":Y2Fmw6k=:" {
		t.Fatalf("x-a;bs = %q, %v", got, err)
	}
}

func TestParseComponent(t *testing.T) {
	tests := []struct {
		in, ident string
		want      error
	}{
		{`"content-digest"`, `"content-digest"`, nil},
		{`content-digest`, `"content-digest"`, nil},
		{`@method`, `"@method"`, nil},
		{`"@query-param";name="Pet"`, `"@query-param";name="Pet"`, nil},
		{`"example-dict";key="a";req`, `"example-dict";key="a";req`, nil},
		{`"x";req;sf`, `"x";req;sf`, nil},
		{`"Content-Type"`, "", ErrMalformed},
		{`"x y"`, "", ErrMalformed},
		{`"@signature-params"`, "", ErrMalformed},
		{`"@unknown"`, "", ErrUnsupported},
		{`"x";foo`, "", ErrUnsupported},
		{`"x";sf=?0`, "", ErrMalformed},
		{`"x";bs;sf`, "", ErrMalformed},
		{`"x";bs;key="a"`, "", ErrMalformed},
		{`"@method";sf`, "", ErrMalformed},
		{`"@status";req`, "", ErrMalformed},
		{`"@query-param"`, "", ErrMalformed},
		{`"x";name="a"`, "", ErrMalformed},
		{`"x";key=""`, "", ErrMalformed},
		{`"x";key=1`, "", ErrMalformed},
		{`"a" "b"`, "", ErrMalformed},
		{`"a";key=:AAAA:`, "", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			c, err := ParseComponent(tc.in)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && c.String() != tc.ident {
				t.Fatalf("ident %q, want %q", c.String(), tc.ident)
			}
		})
	}
	a, b := MustComponent(`"x";req;sf`), MustComponent(`"x";sf;req`)
	if a.key() != b.key() {
		t.Fatal("parameter order must not matter for equality")
	}
}
