// Package digest owns the Content-Digest field (RFC 9530): parsing it,
// checking it against the message content the caller has read, and
// producing it. Only sha-256 and sha-512 are accepted; the insecure or
// non-cryptographic algorithms of the registry (md5, sha, unixsum, crc32c,
// ...) and unknown ones are ignored, so a field carrying only those counts
// as carrying no usable digest.
package digest

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"slices"
	"strings"

	"github.com/dunglas/httpsfv"

	"github.com/portcullis/portcullis/internal/httpsig/internal/sfguard"
)

// Algorithm is a Hash Algorithms for HTTP Digest Fields registry key.
type Algorithm string

// The supported algorithms.
const (
	SHA256 Algorithm = "sha-256"
	SHA512 Algorithm = "sha-512"
)

// Field is the field name.
const Field = "Content-Digest"

var (
	// ErrMissing: no Content-Digest field.
	ErrMissing = errors.New("digest: no Content-Digest")
	// ErrMalformed: not a dictionary of byte sequences, a repeated
	// algorithm, or a digest of the wrong length.
	ErrMalformed = errors.New("digest: malformed Content-Digest")
	// ErrTooLarge: the field exceeds MaxFieldBytes or MaxMembers.
	ErrTooLarge = errors.New("digest: Content-Digest too large")
	// ErrNoSupported: no sha-256 or sha-512 digest among the members.
	ErrNoSupported = errors.New("digest: no supported algorithm in Content-Digest")
	// ErrMismatch: a supported digest does not match the content.
	ErrMismatch = errors.New("digest: Content-Digest does not match the content")
)

// Bounds on the field.
const (
	MaxFieldBytes = 4096
	MaxMembers    = 16
)

func newHash(a Algorithm) (hash.Hash, int) {
	switch a {
	case SHA256:
		return sha256.New(), sha256.Size
	case SHA512:
		return sha512.New(), sha512.Size
	}
	return nil, 0
}

// Digests maps each supported algorithm present to its digest.
type Digests map[Algorithm][]byte

// Parse parses the field lines of Content-Digest. Unknown algorithms are
// ignored (RFC 9530 Section 2 lets a recipient ignore any digest), but
// every member must still be a byte sequence. At least one supported
// algorithm is required.
func Parse(lines []string) (Digests, error) {
	if len(lines) == 0 {
		return nil, ErrMissing
	}
	d, err := sfguard.ParseDictionary(lines, MaxFieldBytes)
	switch {
	case errors.Is(err, sfguard.ErrTooLarge):
		return nil, ErrTooLarge
	case err != nil:
		return nil, ErrMalformed
	}
	if len(d.Names()) > MaxMembers {
		return nil, ErrTooLarge
	}
	out := Digests{}
	for _, name := range d.Names() {
		m, _ := d.Get(name)
		it, ok := m.(httpsfv.Item)
		if !ok {
			return nil, ErrMalformed
		}
		b, ok := it.Value.([]byte)
		if !ok {
			return nil, ErrMalformed
		}
		a := Algorithm(name)
		if _, size := newHash(a); size != 0 {
			if len(b) != size {
				return nil, ErrMalformed
			}
			out[a] = b
		}
	}
	if len(out) == 0 {
		return nil, ErrNoSupported
	}
	return out, nil
}

// Verify checks the Content-Digest field lines against the content.
// Every supported digest present must match; it returns the strongest
// algorithm checked.
func Verify(lines []string, content []byte) (Algorithm, error) {
	ds, err := Parse(lines)
	if err != nil {
		return "", err
	}
	var strongest Algorithm
	for _, a := range []Algorithm{SHA256, SHA512} {
		want, ok := ds[a]
		if !ok {
			continue
		}
		h, _ := newHash(a)
		h.Write(content)
		if subtle.ConstantTimeCompare(h.Sum(nil), want) != 1 {
			return "", ErrMismatch
		}
		strongest = a
	}
	return strongest, nil
}

// Compute returns a Content-Digest field value for content with the given
// algorithms (default sha-256), in the order given.
func Compute(content []byte, algs ...Algorithm) (string, error) {
	if len(algs) == 0 {
		algs = []Algorithm{SHA256}
	}
	parts := make([]string, 0, len(algs))
	for i, a := range algs {
		h, _ := newHash(a)
		if h == nil {
			return "", ErrNoSupported
		}
		if slices.Contains(algs[:i], a) {
			return "", ErrMalformed
		}
		h.Write(content)
		parts = append(parts, string(a)+"=:"+base64.StdEncoding.EncodeToString(h.Sum(nil))+":")
	}
	return strings.Join(parts, ", "), nil
}
