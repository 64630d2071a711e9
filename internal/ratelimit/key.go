package ratelimit

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// partKind is one kind of key part.
type partKind byte

const (
	partConsumer partKind = iota + 1
	partAPIKey
	partClientIP
	partRoute
	partHeader
	partClaim
	// partIPFallback replaces the whole key when a part is missing and the
	// policy counts such requests per client IP.
	partIPFallback
)

type keyPart struct {
	kind partKind
	arg  string // canonical header name or claim name
}

// keySpec is a compiled policy key: the parts a request is counted by.
type keySpec []keyPart

// parseKey compiles validated key parts ("consumer", "header:X-Tenant").
func parseKey(parts []string) keySpec {
	out := make(keySpec, 0, len(parts))
	for _, p := range parts {
		kind, arg, _ := strings.Cut(p, ":")
		switch kind {
		case "consumer":
			out = append(out, keyPart{kind: partConsumer})
		case "api_key":
			out = append(out, keyPart{kind: partAPIKey})
		case "client_ip":
			out = append(out, keyPart{kind: partClientIP})
		case "route":
			out = append(out, keyPart{kind: partRoute})
		case "header":
			out = append(out, keyPart{kind: partHeader, arg: http.CanonicalHeaderKey(arg)})
		case "claim":
			out = append(out, keyPart{kind: partClaim, arg: arg})
		}
	}
	return out
}

// appendKey appends the composite key of r to dst, or reports false when a
// part is missing. Every part is written as its kind, its length and its
// bytes, so distinct part values can never produce the same key (a header
// value containing a separator cannot impersonate another key).
func (k keySpec) appendKey(dst []byte, r *http.Request, info *reqinfo.Info) ([]byte, bool) {
	for _, p := range k {
		var v string
		switch p.kind {
		case partConsumer:
			if info.Principal != nil {
				v = info.Principal.ConsumerID
			}
		case partAPIKey:
			if pr := info.Principal; pr != nil && pr.Method == principal.MethodAPIKey {
				v = pr.CredentialID
			}
		case partClientIP:
			if !info.ClientIP.IsValid() {
				return dst, false
			}
			dst = appendPart(dst, partClientIP, IPKey(info.ClientIP))
			continue
		case partRoute:
			v = info.Route
		case partHeader:
			if vs := r.Header[p.arg]; len(vs) > 0 {
				v = vs[0]
			}
		case partClaim:
			if info.Principal != nil {
				v = claimString(info.Principal.Claims[p.arg])
			}
		}
		if v == "" {
			return dst, false
		}
		dst = appendPart(dst, p.kind, v)
	}
	return dst, true
}

// firstPart is the encoding of the first part of a composite key (the
// whole key when it has one part).
func firstPart(composite []byte) []byte {
	if len(composite) < 2 {
		return composite
	}
	n, size := binary.Uvarint(composite[1:])
	end := 1 + size + int(n)
	if size <= 0 || end > len(composite) || end < 0 {
		return composite
	}
	return composite[:end]
}

// appendFallbackKey appends the per-client-IP key used when a policy's own
// key is missing.
func appendFallbackKey(dst []byte, ip netip.Addr) []byte {
	return appendPart(dst, partIPFallback, IPKey(ip))
}

func appendPart(dst []byte, kind partKind, v string) []byte {
	dst = append(dst, byte(kind))
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// IPKey is the form a client IP is counted by: the address for IPv4, the
// /64 prefix for IPv6, because one IPv6 client usually holds a whole /64
// and could otherwise rotate through 2^64 addresses to dodge its limit. An
// invalid address (no peer address) is counted as one "unknown" client.
func IPKey(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "unknown"
	case ip.Is4() || ip.Is4In6():
		return ip.Unmap().String()
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p.String()
}

// claimString renders a scalar claim; objects and arrays count as missing.
func claimString(v any) string {
	switch c := v.(type) {
	case string:
		return c
	case float64:
		return strconv.FormatFloat(c, 'g', -1, 64)
	case json.Number:
		return c.String()
	case bool:
		return strconv.FormatBool(c)
	case int:
		return strconv.Itoa(c)
	case int64:
		return strconv.FormatInt(c, 10)
	}
	return ""
}

// Digest is the stored form of a key for callers outside this package
// (the brute-force defence): see digest.
func Digest(key string) string { return digest([]byte(key)) }

// digest is the stored form of a composite key: 128 bits of its SHA-256,
// so stores hold neither client IPs nor consumer ids nor header values,
// and keys have a fixed length whatever a client sends.
func digest(composite []byte) string {
	sum := sha256.Sum256(composite)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
