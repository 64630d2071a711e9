package digest

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// figure reads a figure of RFC 9530 (or, for the shared messages, RFC
// 9421) copied verbatim, undoing its RFC 8792 line wrapping.
func figure(t *testing.T, path ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(path...))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := strings.CutPrefix(string(b), "NOTE: '\\' line wrapping per RFC 8792\n\n")
	return regexp.MustCompile(`\\\n *`).ReplaceAllString(s, "")
}

// header parses the header section of a request, response or bare
// fields figure.
func header(t *testing.T, path ...string) http.Header {
	t.Helper()
	head, _, _ := strings.Cut(figure(t, path...), "\n\n")
	first, _, _ := strings.Cut(head, "\n")
	if !strings.HasPrefix(first, "HTTP/") && !strings.HasSuffix(first, " HTTP/1.1") {
		head = "HTTP/1.1 200 OK\n" + head
	}
	br := bufio.NewReader(strings.NewReader(strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n"))
	if strings.HasSuffix(first, " HTTP/1.1") {
		r, err := http.ReadRequest(br)
		if err != nil {
			t.Fatal(err)
		}
		return r.Header
	}
	r, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r.Header
}

// TestRFC9530Examples: the Content-Digest examples of RFC 9530 Appendix B
// and the shared test messages of RFC 9421 Appendix B.2.
func TestRFC9530Examples(t *testing.T) {
	rfc9530 := func(name string) []string { return header(t, "testdata", "rfc9530", name).Values(Field) }
	rfc9421 := func(name string) []string { return header(t, "..", "testdata", "rfc9421", name).Values(Field) }
	tests := []struct {
		name    string
		field   []string
		content string
		alg     Algorithm
		want    error
	}{
		{"B.1 full representation", rfc9530("b1-full-representation.http"), "{\"hello\": \"world\"}\n", SHA256, nil},
		{"B.2 no content", rfc9530("b2-no-content.http"), "", SHA256, nil},
		{"B.3 partial content", rfc9530("b3-partial-content.http"), "\"world\"}\n", SHA256, nil},
		{"B.3 partial content is not the representation", rfc9530("b3-partial-content.http"), "{\"hello\": \"world\"}\n", "", ErrMismatch},
		{"RFC 9421 test-request", rfc9421("test-request.http"), `{"hello": "world"}`, SHA512, nil},
		// RFC 9421's test-response carries a digest that is not the one
		// of its content: a real-world mismatch.
		{"RFC 9421 test-response erratum", rfc9421("test-response.http"), `{"message": "good dog"}`, "", ErrMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alg, err := Verify(tc.field, []byte(tc.content))
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if alg != tc.alg {
				t.Fatalf("alg %q, want %q", alg, tc.alg)
			}
		})
	}
}

// TestRFC9530SampleValues: Appendix D, the digests of {"hello": "world"}
// per algorithm. The supported ones are produced byte for byte; the
// others are ignored when parsing.
func TestRFC9530SampleValues(t *testing.T) {
	content := []byte(`{"hello": "world"}`)
	for _, line := range strings.Split(strings.TrimSpace(figure(t, "testdata", "rfc9530", "d-sample-values.txt")), "\n\n") {
		alg, value, ok := strings.Cut(line, " -")
		if !ok {
			t.Fatalf("figure line %q", line)
		}
		value = strings.TrimSpace(value)
		field := alg + "=" + value
		t.Run(alg, func(t *testing.T) {
			switch Algorithm(alg) {
			case SHA256, SHA512:
				got, err := Compute(content, Algorithm(alg))
				if err != nil || got != field {
					t.Fatalf("Compute = %q, %v; want %q", got, err, field)
				}
				if a, err := Verify([]string{field}, content); err != nil || a != Algorithm(alg) {
					t.Fatalf("Verify = %q, %v", a, err)
				}
			default:
				if _, err := Verify([]string{field}, content); !errors.Is(err, ErrNoSupported) {
					t.Fatalf("%s alone: err = %v, want ErrNoSupported", alg, err)
				}
				if _, err := Verify([]string{field + ", sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"}, content); err != nil {
					t.Fatalf("%s beside sha-256: %v", alg, err)
				}
			}
		})
	}
}

func TestRFC9530Section2Parse(t *testing.T) {
	one, err := Parse(header(t, "testdata", "rfc9530", "s2-content-digest.http").Values(Field))
	if err != nil || len(one) != 1 || len(one[SHA512]) != 64 {
		t.Fatalf("Parse = %v, %v", one, err)
	}
	two, err := Parse(header(t, "testdata", "rfc9530", "s2-content-digest-multiple.http").Values(Field))
	if err != nil || len(two) != 2 || len(two[SHA256]) != 32 || len(two[SHA512]) != 64 {
		t.Fatalf("Parse = %v, %v", two, err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	content := []byte(`{"hello": "world"}`)
	sha256OK := "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
	sha512OK := "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
	sha256Bad := "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"
	tests := []struct {
		name  string
		lines []string
		want  error
	}{
		{"absent", nil, ErrMissing},
		{"empty", []string{""}, ErrNoSupported},
		{"changed content", []string{sha256Bad}, ErrMismatch},
		{"one of two mismatches", []string{sha512OK + ", " + sha256Bad}, ErrMismatch},
		{"both match", []string{sha256OK + ", " + sha512OK}, nil},
		{"across field lines", []string{sha256OK, sha512OK}, nil},
		{"repeated algorithm", []string{sha256OK + ", " + sha256Bad}, ErrMalformed},
		{"repeated algorithm across lines", []string{sha256Bad, sha256OK}, ErrMalformed},
		{"only unknown algorithms", []string{"md5=:Sd/dVLAcvNLSq16eXua5uQ==:"}, ErrNoSupported},
		{"wrong length", []string{"sha-256=:AAAA:"}, ErrMalformed},
		{"excess padding (an RFC 9530 erratum)", []string{"sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg==:"}, ErrMalformed},
		{"not a byte sequence", []string{`sha-256="X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="`}, ErrMalformed},
		{"inner list", []string{"sha-256=(:AAAA:)"}, ErrMalformed},
		{"unknown algorithm still malformed", []string{sha256OK + ", x=1"}, ErrMalformed},
		{"not a dictionary", []string{"sha-256 = :AAAA:"}, ErrMalformed},
		{"hex instead of base64", []string{"sha-256=:7b2268656c6c6f223a2022776f726c64227d:"}, ErrMalformed},
		{"oversized", []string{sha256OK + strings.Repeat(", x=:AAAA:", 500)}, ErrTooLarge},
		{"too many members", []string{sha256OK + manyMembers(MaxMembers)}, ErrTooLarge},
		{"members at the bound", []string{sha256OK + manyMembers(MaxMembers-1)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.lines, content)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCompute(t *testing.T) {
	got, err := Compute([]byte(`{"hello": "world"}`), SHA256, SHA512)
	want := "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
	if err != nil || got != want {
		t.Fatalf("Compute = %q, %v", got, err)
	}
	if got, _ := Compute(nil); got != "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:" {
		t.Fatalf("default = %q", got)
	}
	if _, err := Compute(nil, "md5"); !errors.Is(err, ErrNoSupported) {
		t.Fatalf("md5: %v", err)
	}
	if _, err := Compute(nil, SHA256, SHA256); !errors.Is(err, ErrMalformed) {
		t.Fatalf("repeated: %v", err)
	}
}

func manyMembers(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, ", x%d=:AA==:", i)
	}
	return b.String()
}
