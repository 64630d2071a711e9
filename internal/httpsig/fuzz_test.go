package httpsig

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseSignatures: whatever a client sends in Signature-Input and
// Signature, parsing either fails with one of the package's error kinds
// (bounded, printable text) or yields signatures whose @signature-params
// value re-parses to itself and whose base, when it can be built, has
// exactly one line per covered component plus the parameters line.
func FuzzParseSignatures(f *testing.F) {
	seeds := [][2]string{
		{`sig1=("@method" "@authority" "@path");created=1618884473;keyid="k"`, `sig1=:AAAA:`},
		{`sig-b22=("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example"`, `sig-b22=:AAAA:`},
		{`a=("x";sf "y";key="k";req "z";bs;tr);nonce="n", b=()`, `a=:AA==:, b=:AA==:`},
		{`sig1=("@method" "@method")`, `sig1=:AAAA:`},
		{`sig1=();created=1;created=2`, `sig1=:AAAA:`},
		{`sig1=("a\"b")`, `sig1=:AAAA:`},
		{`sig1=("@status";req)`, `sig1=?1`},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	msg := &Request{
		Method: "POST",
		Target: Target{"https", "example.com", "/foo?param=Value&Pet=dog"},
		Header: http.Header{
			"Content-Digest": {"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"},
			"X":              {"1"}, "Y": {"2"}, "Z": {"3"},
		},
	}
	f.Fuzz(func(t *testing.T, input, sig string) {
		h := http.Header{"Signature-Input": {input}, "Signature": {sig}}
		sigs, err := ParseSignatures(h, Limits{})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if len(err.Error()) > 300 || strings.ContainsAny(err.Error(), "\r\n\x00") {
				t.Fatalf("error text %q", err.Error())
			}
			return
		}
		for _, s := range sigs {
			again, err := ParseSignatures(http.Header{
				"Signature-Input": {s.Label + "=" + s.SignatureParams()},
				"Signature":       {s.Label + "=:AAAA:"},
			}, Limits{})
			if err != nil || len(again) != 1 || again[0].SignatureParams() != s.SignatureParams() {
				t.Fatalf("%q does not re-parse to itself: %v", s.SignatureParams(), err)
			}
			base, err := s.Base(msg, nil)
			if err != nil {
				continue
			}
			if n := bytes.Count(base, []byte("\n")); n != len(s.Components) {
				t.Fatalf("base has %d line breaks for %d components:\n%s", n, len(s.Components), base)
			}
			last := base[bytes.LastIndexByte(base, '\n')+1:]
			if !bytes.Equal(last, []byte(`"@signature-params": `+s.SignatureParams())) {
				t.Fatalf("last line %q", last)
			}
		}
	})
}
