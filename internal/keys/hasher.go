package keys

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"hash"
	"sync"
)

// MinPepperLen is the shortest pepper accepted (256 bits).
const MinPepperLen = 32

// Hasher computes the stored form of a credential: HMAC-SHA-256 of its full
// text under the server pepper. A stolen database alone cannot be used to
// test guesses, and there is nothing to test quickly anyway: the secret has
// 256 bits.
type Hasher struct {
	pool sync.Pool // of hash.Hash keyed with the pepper
}

// NewHasher returns a Hasher for pepper (at least MinPepperLen bytes).
func NewHasher(pepper []byte) (*Hasher, error) {
	if len(pepper) < MinPepperLen {
		return nil, errors.New("pepper must be at least 32 bytes")
	}
	key := append([]byte(nil), pepper...)
	h := &Hasher{}
	h.pool.New = func() any { return hmac.New(sha256.New, key) }
	return h, nil
}

// Sum returns the HMAC of token.
func (h *Hasher) Sum(token string) []byte {
	m := h.pool.Get().(hash.Hash)
	m.Reset()
	_, _ = m.Write([]byte(token))
	out := m.Sum(make([]byte, 0, sha256.Size))
	h.pool.Put(m)
	return out
}

// Equal reports whether token hashes to sum, in constant time.
func (h *Hasher) Equal(token string, sum []byte) bool {
	return subtle.ConstantTimeCompare(h.Sum(token), sum) == 1
}
