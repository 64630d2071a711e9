package certbind

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Format is how a TLS-terminating proxy forwards the client certificate.
type Format int

const (
	// EscapedPEM is one URL-encoded PEM certificate, as nginx's
	// $ssl_client_escaped_cert (proxy_set_header X-SSL-Client-Cert
	// $ssl_client_escaped_cert;).
	EscapedPEM Format = iota + 1
	// XFCC is Envoy's x-forwarded-client-cert.
	XFCC
)

// MaxForwardedBytes bounds a forwarded-certificate header (all its lines):
// a URL-encoded PEM certificate is about 2.5 times its DER, and a few
// kilobytes of DER is already a large client certificate.
const MaxForwardedBytes = 16 << 10

// ErrMalformed is a forwarded-certificate header that cannot be read.
var ErrMalformed = errors.New("certbind: malformed forwarded client certificate")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// FromHeader reads the client certificate a TLS-terminating proxy put in
// header name, in format f.
//
// Only call it for a request whose peer is a proxy you trust (the caller
// checks the connection's address or its certificate) and which sets the
// header itself, overwriting whatever the client sent. Otherwise any
// client can claim any certificate, and with it any certificate-bound
// token it has stolen. For Envoy that means forward_client_cert_details
// SANITIZE_SET; with APPEND_FORWARD a client without a certificate gets
// its own header forwarded unchanged.
//
// No header, or an empty one, is ErrNoCertificate. Several lines of an
// EscapedPEM header, or anything over MaxForwardedBytes, is ErrMalformed.
// Several XFCC lines are one comma-separated list, as HTTP defines.
func FromHeader(h http.Header, name string, f Format) (*ClientCert, error) {
	vals := h.Values(name)
	total := 0
	for _, v := range vals {
		total += len(v) + 1
	}
	switch {
	case len(vals) == 0 || total == len(vals):
		return nil, ErrNoCertificate
	case total > MaxForwardedBytes:
		return nil, malformed("header of %d bytes is over %d", total, MaxForwardedBytes)
	}
	switch f {
	case EscapedPEM:
		if len(vals) > 1 {
			return nil, malformed("%d header lines", len(vals))
		}
		return ParseEscapedPEM(vals[0])
	case XFCC:
		return ParseXFCC(strings.Join(vals, ","))
	}
	return nil, fmt.Errorf("certbind: unknown format %d", f)
}

// ParseEscapedPEM reads one URL-encoded PEM certificate. It is unescaped as
// a path segment, not a query value: a literal '+' of the base64 stays a
// '+' instead of turning into a space.
func ParseEscapedPEM(v string) (*ClientCert, error) {
	if len(v) > MaxForwardedBytes {
		return nil, malformed("value of %d bytes is over %d", len(v), MaxForwardedBytes)
	}
	cert, err := parseEscapedCert(v)
	if err != nil {
		return nil, err
	}
	return &ClientCert{Thumbprint: Thumbprint(cert.Raw), Cert: cert}, nil
}

// ParseXFCC reads the client certificate from an x-forwarded-client-cert
// value: comma-separated elements of semicolon-separated key=value pairs,
// values optionally double-quoted with \" inside.
//
// It takes the last element. Envoy documents that each proxy appends its
// element to the end, so the last one is the nearest proxy's: the one that
// terminated the TLS connection in front of the gateway and that the
// caller trusts. Elements before it came from further away, possibly from
// the client. All elements must still parse: a quote left open by an
// earlier element would otherwise swallow the nearest proxy's.
//
// From that element, Cert (URL-encoded PEM) gives the certificate and Hash
// (hex SHA-256 of its DER, which Envoy always sets) the thumbprint; with
// both they must agree, with only Hash the thumbprint comes from it and
// Cert is nil. Keys are case-insensitive; a repeated Cert or Hash is
// malformed.
func ParseXFCC(v string) (*ClientCert, error) {
	if len(v) > MaxForwardedBytes {
		return nil, malformed("value of %d bytes is over %d", len(v), MaxForwardedBytes)
	}
	elems, err := splitXFCC(v)
	if err != nil {
		return nil, err
	}
	var certVal, hashVal string
	var haveCert, haveHash bool
	for _, p := range elems[len(elems)-1] {
		switch {
		case strings.EqualFold(p.key, "Cert"):
			if haveCert {
				return nil, malformed("XFCC element has two Cert keys")
			}
			certVal, haveCert = p.value, true
		case strings.EqualFold(p.key, "Hash"):
			if haveHash {
				return nil, malformed("XFCC element has two Hash keys")
			}
			hashVal, haveHash = p.value, true
		}
	}
	var sum []byte
	if haveHash {
		if sum, err = hex.DecodeString(hashVal); err != nil || len(sum) != sha256.Size {
			return nil, malformed("XFCC Hash is not a hex SHA-256")
		}
	}
	if !haveCert {
		if !haveHash {
			return nil, malformed("XFCC element has neither Cert nor Hash")
		}
		return &ClientCert{Thumbprint: encodeSum(sum)}, nil
	}
	cert, err := parseEscapedCert(certVal)
	if err != nil {
		return nil, err
	}
	der := sha256.Sum256(cert.Raw)
	if haveHash && subtle.ConstantTimeCompare(der[:], sum) != 1 {
		return nil, malformed("XFCC Hash is not the hash of Cert")
	}
	return &ClientCert{Thumbprint: encodeSum(der[:]), Cert: cert}, nil
}

// parseEscapedCert unescapes and parses exactly one PEM CERTIFICATE block.
func parseEscapedCert(v string) (*x509.Certificate, error) {
	raw, err := url.PathUnescape(v)
	if err != nil {
		return nil, malformed("certificate is not URL-encoded")
	}
	// pem.Decode skips any text before the block; nothing may be there.
	trimmed := bytes.TrimSpace([]byte(raw))
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		return nil, malformed("no PEM block at the start")
	}
	block, rest := pem.Decode(trimmed)
	switch {
	case block == nil:
		return nil, malformed("no PEM block")
	case block.Type != "CERTIFICATE" || len(block.Headers) > 0:
		return nil, malformed("PEM block is not a plain CERTIFICATE")
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, malformed("data after the certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, malformed("certificate does not parse")
	}
	return cert, nil
}

type pair struct{ key, value string }

// splitXFCC parses the whole header into elements of pairs.
func splitXFCC(s string) ([][]pair, error) {
	var elems [][]pair
	var cur []pair
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++ // optional whitespace after a comma joining header lines
		}
		k := i
		for i < len(s) && isKeyChar(s[i]) {
			i++
		}
		if i == k || i >= len(s) || s[i] != '=' {
			return nil, malformed("XFCC pair without a key= at byte %d", k)
		}
		key := s[k:i]
		i++
		var val string
		if i < len(s) && s[i] == '"' {
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, malformed("XFCC quoted value not closed")
				}
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '"' {
					break
				}
				if c < 0x20 || c == 0x7f {
					return nil, malformed("control byte in XFCC value")
				}
				b.WriteByte(c)
			}
			val = b.String()
		} else {
			v := i
			for i < len(s) && s[i] != ';' && s[i] != ',' {
				if c := s[i]; c == '"' || c == '=' || c <= 0x20 || c == 0x7f {
					return nil, malformed("XFCC value with %q must be quoted", c)
				}
				i++
			}
			val = s[v:i]
		}
		cur = append(cur, pair{key, val})
		if i == len(s) {
			return append(elems, cur), nil
		}
		switch s[i] {
		case ';':
		case ',':
			elems, cur = append(elems, cur), nil
		default: // after a closing quote
			return nil, malformed("XFCC junk after a quoted value at byte %d", i)
		}
		i++
	}
}

func isKeyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
