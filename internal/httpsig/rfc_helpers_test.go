package httpsig

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files under testdata/rfc9421 are the figures of RFC 9421 copied
// verbatim, including RFC 8792 line wrapping; these helpers undo the
// wrapping and parse the messages with net/http, as a server would.

func vector(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "rfc9421", name))
	if err != nil {
		t.Fatal(err)
	}
	return unwrap8792(string(b))
}

// unwrap8792 removes the NOTE header of RFC 8792 Section 7 and joins every
// line ending in a backslash with the next, whose leading spaces go.
func unwrap8792(s string) string {
	if rest, ok := strings.CutPrefix(s, "NOTE: '\\' line wrapping per RFC 8792\n\n"); ok {
		s = rest
	}
	lines := strings.Split(s, "\n")
	var b strings.Builder
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
			i++
			l = l[:len(l)-1] + strings.TrimLeft(lines[i], " ")
		}
		b.WriteString(l)
		if i < len(lines)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// baseVector is a signature base figure: the base has no final newline.
func baseVector(t testing.TB, name string) string {
	return strings.TrimSuffix(vector(t, name), "\n")
}

func toCRLF(msg string) string {
	head, body, _ := strings.Cut(msg, "\n\n")
	return strings.ReplaceAll(head, "\n", "\r\n") + "\r\n\r\n" + body
}

func readRequest(t testing.TB, name string) *http.Request {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(toCRLF(vector(t, name)))))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// rfcRequest is an incoming request of the examples, all sent to https.
func rfcRequest(t testing.TB, name string) *Request {
	r := readRequest(t, name)
	return IncomingRequest(r, "https", r.Host)
}

func rfcResponse(t testing.TB, name string, req *Request) *Response {
	t.Helper()
	r, err := http.ReadResponse(bufio.NewReader(strings.NewReader(toCRLF(vector(t, name)))), nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &Response{Status: r.StatusCode, Header: r.Header, Request: req}
}

// fieldsVector parses a figure holding only header fields.
func fieldsVector(t testing.TB, name string) http.Header {
	t.Helper()
	h, err := textproto.NewReader(bufio.NewReader(strings.NewReader(toCRLF(vector(t, name) + "\n")))).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return http.Header(h)
}

type rfcKeys struct {
	rsaPSS  *rsa.PrivateKey
	ecc     *ecdsa.PrivateKey
	ed25519 ed25519.PrivateKey
	secret  []byte
}

func loadKeys(t testing.TB) rfcKeys {
	t.Helper()
	var k rfcKeys
	blocks := func(name string) map[string][]byte {
		rest := []byte(vector(t, "keys/"+name))
		out := map[string][]byte{}
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				return out
			}
			out[b.Type] = b.Bytes
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// test-key-rsa-pss is PKCS#8 with the id-RSASSA-PSS algorithm, which
	// crypto/x509 does not parse; the inner key is plain PKCS#1.
	var p8 struct {
		Version int
		Algo    asn1.RawValue
		Key     []byte
	}
	_, err := asn1.Unmarshal(blocks("test-key-rsa-pss.pem")["PRIVATE KEY"], &p8)
	must(err)
	k.rsaPSS, err = x509.ParsePKCS1PrivateKey(p8.Key)
	must(err)
	pub, err := x509.ParsePKIXPublicKey(blocks("test-key-rsa-pss.pem")["PUBLIC KEY"])
	must(err)
	if !k.rsaPSS.PublicKey.Equal(pub) {
		t.Fatal("test-key-rsa-pss: public and private keys differ")
	}
	k.ecc, err = x509.ParseECPrivateKey(blocks("test-key-ecc-p256.pem")["EC PRIVATE KEY"])
	must(err)
	pub, err = x509.ParsePKIXPublicKey(blocks("test-key-ecc-p256.pem")["PUBLIC KEY"])
	must(err)
	if !k.ecc.PublicKey.Equal(pub) {
		t.Fatal("test-key-ecc-p256: public and private keys differ")
	}
	priv, err := x509.ParsePKCS8PrivateKey(blocks("test-key-ed25519.pem")["PRIVATE KEY"])
	must(err)
	k.ed25519 = priv.(ed25519.PrivateKey)
	pub, err = x509.ParsePKIXPublicKey(blocks("test-key-ed25519.pem")["PUBLIC KEY"])
	must(err)
	if !k.ed25519.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		t.Fatal("test-key-ed25519: public and private keys differ")
	}
	k.secret, err = base64.StdEncoding.DecodeString(strings.TrimSpace(vector(t, "keys/test-shared-secret.txt")))
	must(err)
	return k
}

// resolver maps the RFC's key ids to verification keys.
func (k rfcKeys) resolver(t testing.TB) KeyResolver {
	keys := map[string]Key{}
	add := func(id string, pub crypto.PublicKey) {
		key, err := NewKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = key
	}
	add("test-key-rsa-pss", &k.rsaPSS.PublicKey)
	add("test-key-ecc-p256", &k.ecc.PublicKey)
	add("test-key-ed25519", k.ed25519.Public())
	hk, err := NewHMACKey(k.secret)
	if err != nil {
		t.Fatal(err)
	}
	keys["test-shared-secret"] = hk
	return func(id string) (Key, error) {
		key, ok := keys[id]
		if !ok {
			return Key{}, os.ErrNotExist
		}
		return key, nil
	}
}

// fieldsOf copies the Signature-Input and Signature of a fields figure
// into h.
func withFields(t testing.TB, h http.Header, name string) http.Header {
	t.Helper()
	f := fieldsVector(t, name)
	out := h.Clone()
	out.Del("Signature-Input")
	out.Del("Signature")
	for _, k := range []string{"Signature-Input", "Signature"} {
		for _, v := range f.Values(k) {
			out.Add(k, v)
		}
	}
	return out
}
