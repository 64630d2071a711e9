package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Keyring encrypts sensitive metadata with AES-256-GCM under versioned
// master keys. The highest version encrypts; every version decrypts, so the
// master key is rotated by adding a version, running `portcullis keys
// rekey`, and then removing the old one.
//
// A sealed value is: magic "pc1" | version (uint32, big endian) | 12-byte
// random nonce | ciphertext and tag. The caller's additional data binds a
// value to its row and field, so a ciphertext copied to another row does not
// decrypt.
type Keyring struct {
	current uint32
	aeads   map[uint32]cipher.AEAD
}

const sealMagic = "pc1"

// ParseKeyring parses "v<N>:<base64 of 32 bytes>" entries separated by
// commas. A single bare base64 value is version 1.
func ParseKeyring(s string) (*Keyring, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("is empty")
	}
	k := &Keyring{aeads: map[uint32]cipher.AEAD{}}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		ver, b64 := uint64(1), part
		if v, rest, ok := strings.Cut(part, ":"); ok {
			if !strings.HasPrefix(v, "v") {
				return nil, fmt.Errorf("entry %d: want v<N>:<base64>", i+1)
			}
			n, err := strconv.ParseUint(v[1:], 10, 32)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("entry %d: version must be a positive integer", i+1)
			}
			ver, b64 = n, rest
		} else if i > 0 || strings.Contains(s, ",") {
			return nil, fmt.Errorf("entry %d: several keys need versions (v<N>:<base64>)", i+1)
		}
		raw, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("entry %d (v%d): %v", i+1, ver, err)
		}
		if _, dup := k.aeads[uint32(ver)]; dup {
			return nil, fmt.Errorf("version v%d appears twice", ver)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		k.aeads[uint32(ver)] = aead
		if uint32(ver) > k.current {
			k.current = uint32(ver)
		}
	}
	return k, nil
}

func decodeKey(b64 string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(b64); err == nil {
			if len(raw) != 32 {
				return nil, fmt.Errorf("must decode to 32 bytes, got %d", len(raw))
			}
			return raw, nil
		}
	}
	return nil, errors.New("is not base64")
}

// Current is the version new values are sealed with.
func (k *Keyring) Current() uint32 { return k.current }

// Versions are the versions configured, ascending.
func (k *Keyring) Versions() []uint32 { return slices.Sorted(maps.Keys(k.aeads)) }

// Has reports whether version v is configured.
func (k *Keyring) Has(v uint32) bool { _, ok := k.aeads[v]; return ok }

// Seal encrypts plaintext bound to aad under the current version.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	return k.SealVersion(k.current, plaintext, aad)
}

// SealVersion encrypts plaintext bound to aad under version v.
func (k *Keyring) SealVersion(v uint32, plaintext, aad []byte) ([]byte, error) {
	aead, ok := k.aeads[v]
	if !ok {
		return nil, &MissingVersionError{Secret: "master_key", Version: v}
	}
	out := make([]byte, len(sealMagic)+4+aead.NonceSize(), len(sealMagic)+4+aead.NonceSize()+len(plaintext)+aead.Overhead())
	copy(out, sealMagic)
	binary.BigEndian.PutUint32(out[len(sealMagic):], v)
	nonce := out[len(sealMagic)+4:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(out, nonce, plaintext, aad), nil
}

// Version returns the master key version a sealed value was made with.
func Version(sealed []byte) (uint32, bool) {
	if len(sealed) < len(sealMagic)+4 || string(sealed[:len(sealMagic)]) != sealMagic {
		return 0, false
	}
	return binary.BigEndian.Uint32(sealed[len(sealMagic):]), true
}

// Open decrypts a sealed value bound to aad.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	ver, ok := Version(sealed)
	if !ok {
		return nil, errors.New("not a sealed value")
	}
	aead, ok := k.aeads[ver]
	if !ok {
		return nil, &MissingVersionError{Secret: "master_key", Version: ver}
	}
	rest := sealed[len(sealMagic)+4:]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("sealed value is truncated")
	}
	pt, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("decrypting with master key v%d: authentication failed", ver)
	}
	return pt, nil
}
