package keys

import (
	"crypto/rand"
	"hash/crc32"
	"unsafe"
)

// A credential's text is
//
//	pcl_<kind>_<id><secret><checksum>  (with "_" between id and secret)
//
// kind is live, test or admin; id is 12 base62 characters (public: logs,
// the admin API and brute-force counters use it); secret is 43 base62
// characters from crypto/rand (256 bits); checksum is the CRC-32 of
// everything before it in 6 base62 characters, so typos and secret-scanner
// hits are recognised without a database lookup. Example:
//
//	pcl_live_3kTq9ZpW2xYb_<43 characters><6 characters>
const (
	prefix      = "pcl_"
	idLen       = 12
	secretLen   = 43
	checksumLen = 6
	// MaxTokenLen is the length of the longest valid credential (an admin
	// token); anything longer is rejected before any work.
	MaxTokenLen = len(prefix) + len(KindAdmin) + 1 + idLen + 1 + secretLen + checksumLen
)

// Kind is what a credential is for.
type Kind string

// Credential kinds. Live and test are API keys of that environment.
const (
	KindLive  Kind = "live"
	KindTest  Kind = "test"
	KindAdmin Kind = "admin"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Token is a parsed credential. ID is public; the secret part is never
// kept apart from the full text, which is only hashed.
type Token struct {
	Kind Kind
	ID   string
}

// FormatError is a credential that is not well formed. Reason is for the
// log; it never contains the credential.
type FormatError struct{ Reason string }

// Error implements error.
func (e *FormatError) Error() string { return "malformed credential: " + e.Reason }

// Parse checks s is a well-formed credential with a valid checksum and
// returns its kind and id. It allocates nothing for valid input.
func Parse(s string) (Token, error) {
	if len(s) > MaxTokenLen {
		return Token{}, &FormatError{"too long"}
	}
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return Token{}, &FormatError{"unknown prefix"}
	}
	rest := s[len(prefix):]
	var kind Kind
	switch {
	case hasPrefix(rest, "live_"):
		kind = KindLive
	case hasPrefix(rest, "test_"):
		kind = KindTest
	case hasPrefix(rest, "admin_"):
		kind = KindAdmin
	default:
		return Token{}, &FormatError{"unknown kind"}
	}
	rest = rest[len(kind)+1:]
	if len(rest) != idLen+1+secretLen+checksumLen {
		return Token{}, &FormatError{"wrong length"}
	}
	if rest[idLen] != '_' {
		return Token{}, &FormatError{"missing separator"}
	}
	for i := 0; i < len(rest); i++ {
		if i != idLen && !isBase62(rest[i]) {
			return Token{}, &FormatError{"invalid character"}
		}
	}
	body := s[:len(s)-checksumLen]
	want, ok := decode62(s[len(s)-checksumLen:])
	if !ok || uint64(checksum(body)) != want {
		return Token{}, &FormatError{"checksum mismatch"}
	}
	return Token{Kind: kind, ID: rest[:idLen]}, nil
}

// CheckID reports whether id has the shape of a credential id, so the
// admin API can reject junk ids before a lookup.
func CheckID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isBase62(id[i]) {
			return false
		}
	}
	return true
}

// Generate returns a new credential of kind and its parsed form. The id and
// secret come from crypto/rand.
func Generate(kind Kind) (string, Token, error) {
	id, err := randomBase62(idLen)
	if err != nil {
		return "", Token{}, err
	}
	return Build(kind, id)
}

// Build returns a new credential with a fresh secret for a given id (used
// by Generate, and by tests that need a known id).
func Build(kind Kind, id string) (string, Token, error) {
	secret, err := randomBase62(secretLen)
	if err != nil {
		return "", Token{}, err
	}
	body := prefix + string(kind) + "_" + id + "_" + secret
	return body + encode62(uint64(checksum(body)), checksumLen), Token{Kind: kind, ID: id}, nil
}

// NewID returns a random id of the credential id shape, also used for
// consumers.
func NewID() (string, error) { return randomBase62(idLen) }

// randomBase62 draws n uniform base62 characters by rejection sampling
// (bytes >= 248 are discarded so the modulo has no bias).
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b >= 248 {
				continue
			}
			out = append(out, base62[b%62])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

// checksum is CRC-32 (IEEE) of s. It hands crc32 the string's bytes
// without copying them (crc32 only reads its input), so Parse does not
// allocate and uses the hardware-assisted implementation.
func checksum(s string) uint32 {
	if s == "" {
		return crc32.ChecksumIEEE(nil)
	}
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(s), len(s)))
}

func encode62(v uint64, width int) string {
	b := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		b[i] = base62[v%62]
		v /= 62
	}
	return string(b)
}

func decode62(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		d, ok := digit62(s[i])
		if !ok {
			return 0, false
		}
		v = v*62 + uint64(d)
	}
	return v, true
}

func digit62(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'Z':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'z':
		return c - 'a' + 36, true
	}
	return 0, false
}

// base62Set marks the base62 characters; a table, because Parse checks
// every character of every presented key.
var base62Set = func() (t [256]bool) {
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = true
	}
	return t
}()

func isBase62(c byte) bool { return base62Set[c] }

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
