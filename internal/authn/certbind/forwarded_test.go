package certbind

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/pki"
)

func TestParseEscapedPEM(t *testing.T) {
	a, b := testCerts(t)
	pemA := string(a.CertPEM)
	tests := []struct {
		name string
		in   string
		want *pki.Leaf // nil: ErrMalformed
	}{
		{"nginx escaped", escapeAll(pemA), a},
		{"'+' and '/' left raw", escapeMinimal(pemA), a},
		{"leading and trailing whitespace", "%0A%20" + escapeAll(pemA) + "%0A%0A", a},
		{"not URL-encoded", escapeAll(pemA) + "%zz", nil},
		{"unescaped as a query value", strings.ReplaceAll(escapeMinimal(pemA), "+", " "), nil},
		{"raw PEM", pemA, a},
		{"no PEM", "hello", nil},
		{"empty", "", nil},
		{"two certificates", escapeAll(pemA + string(b.CertPEM)), nil},
		{"a private key", escapeAll(string(a.KeyPEM)), nil},
		{"PEM headers", escapeAll(strings.Replace(pemA, "-----\n", "-----\nProc-Type: 4,ENCRYPTED\n\n", 1)), nil},
		{"garbage DER", escapeAll("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), nil},
		{"trailing data", escapeAll(pemA + "junk"), nil},
		{"leading data", escapeAll("junk\n" + pemA), nil},
		{"oversized", escapeAll(pemA) + strings.Repeat("%0A", MaxForwardedBytes), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEscapedPEM(tt.in)
			checkParsed(t, got, err, tt.want)
		})
	}
}

// checkParsed fails unless got is want's certificate, or want is nil and
// err is ErrMalformed.
func checkParsed(t *testing.T, got *ClientCert, err error, want *pki.Leaf) {
	t.Helper()
	if want == nil {
		if !errors.Is(err, ErrMalformed) || got != nil {
			t.Fatalf("got %+v, %v; want ErrMalformed", got, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if got.Thumbprint != Thumbprint(want.Cert.Raw) || (got.Cert != nil && !got.Cert.Equal(want.Cert)) {
		t.Fatalf("got thumbprint %s, want %s", got.Thumbprint, Thumbprint(want.Cert.Raw))
	}
}

func TestParseXFCC(t *testing.T) {
	a, b := testCerts(t)
	certA, certB := escapeMinimal(string(a.CertPEM)), escapeMinimal(string(b.CertPEM))
	hashA, hashB := sumHex(a.Cert.Raw), sumHex(b.Cert.Raw)
	elemA := `By=spiffe://proxy;Hash=` + hashA + `;Cert="` + certA + `";Subject="CN=client-a,O=Example \"Ltd\"";URI=spiffe://example/client-a`
	elemB := `By=spiffe://far;Hash=` + hashB + `;Cert=` + escapeAll(string(b.CertPEM))
	tests := []struct {
		name     string
		in       string
		want     *pki.Leaf
		hashOnly bool
	}{
		{name: "one element", in: elemA, want: a},
		{name: "unquoted Cert", in: "Hash=" + hashA + ";Cert=" + escapeAll(string(a.CertPEM)), want: a},
		{name: "keys case-insensitive", in: "hash=" + hashA + ";CERT=" + escapeAll(string(a.CertPEM)), want: a},
		{name: "several elements: the last is the nearest proxy's", in: elemB + "," + elemA, want: a},
		{name: "several elements, other order", in: elemA + "," + elemB, want: b},
		{name: "space after the comma", in: elemB + ", " + elemA, want: a},
		{name: "Hash only", in: "By=spiffe://proxy;Hash=" + hashA + ";URI=spiffe://example/client-a", want: a, hashOnly: true},
		{name: "Hash in upper case", in: "Hash=" + strings.ToUpper(hashA), want: a, hashOnly: true},
		{name: "Cert only", in: `Cert="` + certA + `"`, want: a},
		{name: "Cert with its chain key", in: elemA + `;Chain="` + certA + certB + `"`, want: a},
		{name: "Hash of another Cert", in: "Hash=" + hashB + `;Cert="` + certA + `"`},
		{name: "two Cert keys", in: `Cert="` + certA + `";cert="` + certB + `"`},
		{name: "two Hash keys", in: "Hash=" + hashA + ";Hash=" + hashB},
		{name: "Hash not hex", in: "Hash=" + strings.Repeat("z", 64)},
		{name: "Hash too short", in: "Hash=" + hashA[:62]},
		{name: "neither Cert nor Hash", in: "By=spiffe://proxy;URI=spiffe://example/client-a"},
		{name: "last element has no cert, an earlier one has", in: elemA + ",By=spiffe://proxy;URI=x"},
		{name: "Cert not a certificate", in: `Hash=` + hashA + `;Cert="hello"`},
		{name: "unterminated quote", in: `Hash=` + hashA + `;Subject="CN=x`},
		{name: "an open quote swallowing the proxy's element", in: `Hash=` + hashB + `;x="` + "," + elemA},
		{name: "junk after a quoted value", in: `Subject="CN=x"y;Hash=` + hashA},
		{name: "trailing comma", in: elemA + ","},
		{name: "empty element", in: elemB + ",," + elemA},
		{name: "trailing semicolon", in: elemA + ";"},
		{name: "key without value separator", in: "Hash"},
		{name: "empty key", in: "=x;Hash=" + hashA},
		{name: "unquoted value with a quote", in: `Hash=` + hashA + `;Subject=CN"x`},
		{name: "unquoted value with =", in: `Hash=` + hashA + `;By=a=b`},
		{name: "control byte in a quoted value", in: "Hash=" + hashA + ";Subject=\"a\x01b\""},
		{name: "empty", in: ""},
		{name: "oversized", in: elemA + ";Pad=" + strings.Repeat("a", MaxForwardedBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseXFCC(tt.in)
			checkParsed(t, got, err, tt.want)
			if err == nil && (got.Cert == nil) != tt.hashOnly {
				t.Fatalf("Cert = %v, want hash only %v", got.Cert, tt.hashOnly)
			}
		})
	}
}

func TestFromHeader(t *testing.T) {
	a, b := testCerts(t)
	xfccA := "Hash=" + sumHex(a.Cert.Raw) + ";Cert=" + escapeAll(string(a.CertPEM))
	xfccB := "Hash=" + sumHex(b.Cert.Raw)
	tests := []struct {
		name   string
		format Format
		lines  []string
		want   *pki.Leaf
		err    error
	}{
		{name: "PEM", format: EscapedPEM, lines: []string{escapeAll(string(a.CertPEM))}, want: a},
		{name: "PEM absent", format: EscapedPEM, err: ErrNoCertificate},
		{name: "PEM empty", format: EscapedPEM, lines: []string{""}, err: ErrNoCertificate},
		{name: "PEM two lines", format: EscapedPEM, lines: []string{escapeAll(string(a.CertPEM)), escapeAll(string(b.CertPEM))}, err: ErrMalformed},
		{name: "XFCC", format: XFCC, lines: []string{xfccA}, want: a},
		{name: "XFCC absent", format: XFCC, err: ErrNoCertificate},
		{name: "XFCC two lines: the last element of the last line", format: XFCC, lines: []string{xfccA, xfccB}, want: b},
		{name: "XFCC two lines over the limit together", format: XFCC,
			lines: []string{xfccA + ";P=" + strings.Repeat("a", MaxForwardedBytes/2), xfccB + ";P=" + strings.Repeat("a", MaxForwardedBytes/2)}, err: ErrMalformed},
		{name: "unknown format", format: 0, lines: []string{xfccA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tt.lines {
				h.Add("X-Client-Cert", l)
			}
			got, err := FromHeader(h, "X-Client-Cert", tt.format)
			switch {
			case tt.want != nil:
				checkParsed(t, got, err, tt.want)
			case tt.err != nil:
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
			case err == nil || errors.Is(err, ErrMalformed) || errors.Is(err, ErrNoCertificate):
				t.Fatalf("err = %v, want an unknown-format error", err)
			}
		})
	}
}

// FuzzForwarded: neither parser panics, every failure is ErrMalformed, and
// a success has a well-formed thumbprint that is the certificate's, if
// there is one.
func FuzzForwarded(f *testing.F) {
	a, b := testCerts(f)
	f.Add(escapeAll(string(a.CertPEM)), false)
	f.Add("By=spiffe://p;Hash="+sumHex(b.Cert.Raw)+`;Cert="`+escapeMinimal(string(b.CertPEM))+`";Subject="CN=b,\"x\""`, true)
	f.Add(`Hash=`+sumHex(a.Cert.Raw)+`,x="`, true)
	f.Add("Hash=00;Cert=%", true)
	f.Fuzz(func(t *testing.T, v string, xfcc bool) {
		parse := ParseEscapedPEM
		if xfcc {
			parse = ParseXFCC
		}
		got, err := parse(v)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || got != nil {
				t.Fatalf("got %v, err = %v; want ErrMalformed", got, err)
			}
			return
		}
		if len(got.Thumbprint) != 43 || (got.Cert != nil && got.Thumbprint != Thumbprint(got.Cert.Raw)) {
			t.Fatalf("bad result %+v for %q", got, v)
		}
		if got.Cert == nil && !xfcc {
			t.Fatal("PEM parse without a certificate")
		}
	})
}
