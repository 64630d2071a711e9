package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Nonce limits and defaults.
const (
	// DefaultNoncePeriod is how often the nonce changes; a nonce is accepted
	// for one to two periods.
	DefaultNoncePeriod = 5 * time.Minute
	// MinNonceSecretBytes is the shortest secret accepted (256 bits).
	MinNonceSecretBytes = 32
	// maxNonceSecrets bounds the secrets tried per check.
	maxNonceSecrets = 4
)

// nonceLabel separates these MACs from anything else keyed with the secret.
const nonceLabel = "portcullis dpop nonce v1\x00"

// nonceMACBytes is the truncated HMAC-SHA256 length (128 bits).
const nonceMACBytes = 16

// nonceLen is the length of an encoded nonce: 8-byte step and the MAC.
var nonceLen = base64.RawURLEncoding.EncodedLen(8 + nonceMACBytes)

// NonceOptions configure NewNonces.
type NonceOptions struct {
	// Secrets are the HMAC keys, at least MinNonceSecretBytes each, the
	// same on every instance (from configuration or the environment, never
	// generated per process, or instances would refuse each other's
	// nonces). The first signs new nonces; all verify, so a secret can be
	// rotated by putting the new one first and dropping the old one after
	// two periods. At most 4.
	Secrets [][]byte
	// Period is how long one nonce is current; zero means
	// DefaultNoncePeriod. At least one second.
	Period time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Nonces issues and checks server nonces (RFC 9449 §8) that every instance
// sharing the secrets accepts without shared storage: a nonce is the
// current time step (Unix time / Period) and an HMAC of it. The current and
// the previous step are accepted, so a nonce handed out just before the
// step changes still works. A nonce is the same for every client within a
// step: it bounds how far ahead a proof can be made (a stolen key cannot
// mint proofs for later), which is what §8 asks of it; jti replay is
// handled separately. Safe for concurrent use.
type Nonces struct {
	secrets [][]byte
	period  time.Duration
	now     func() time.Time
}

// NewNonces checks opts and returns a nonce issuer.
func NewNonces(opts NonceOptions) (*Nonces, error) {
	if len(opts.Secrets) == 0 || len(opts.Secrets) > maxNonceSecrets {
		return nil, fmt.Errorf("dpop: nonces need 1 to %d secrets", maxNonceSecrets)
	}
	n := &Nonces{period: opts.Period, now: opts.Now}
	for i, s := range opts.Secrets {
		if len(s) < MinNonceSecretBytes {
			return nil, fmt.Errorf("dpop: nonce secret %d is %d bytes, at least %d are needed", i, len(s), MinNonceSecretBytes)
		}
		n.secrets = append(n.secrets, append([]byte(nil), s...))
	}
	if n.period == 0 {
		n.period = DefaultNoncePeriod
	}
	if n.period < time.Second {
		return nil, errors.New("dpop: nonce period must be at least 1s")
	}
	if n.now == nil {
		n.now = time.Now
	}
	return n, nil
}

// Period is how long one nonce is current.
func (n *Nonces) Period() time.Duration { return n.period }

// Current returns the nonce of the current step, for DPoP-Nonce.
func (n *Nonces) Current() string { return n.make(n.step(), n.secrets[0]) }

// Valid reports whether nonce is the current or the previous step's.
func (n *Nonces) Valid(nonce string) bool {
	if len(nonce) != nonceLen {
		return false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(nonce)
	if err != nil || len(raw) != 8+nonceMACBytes {
		return false
	}
	step := binary.BigEndian.Uint64(raw[:8])
	if cur := n.step(); step != cur && step+1 != cur {
		return false
	}
	ok := false
	for _, s := range n.secrets {
		// Every secret is tried, so the time taken does not say which matched.
		if hmac.Equal(raw[8:], n.mac(step, s)) {
			ok = true
		}
	}
	return ok
}

func (n *Nonces) step() uint64 {
	t := n.now().UnixNano()
	if t < 0 {
		return 0
	}
	return uint64(t / int64(n.period))
}

func (n *Nonces) mac(step uint64, secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(nonceLabel))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], step)
	m.Write(b[:])
	return m.Sum(nil)[:nonceMACBytes]
}

func (n *Nonces) make(step uint64, secret []byte) string {
	raw := make([]byte, 8, 8+nonceMACBytes)
	binary.BigEndian.PutUint64(raw, step)
	return base64.RawURLEncoding.EncodeToString(append(raw, n.mac(step, secret)...))
}
