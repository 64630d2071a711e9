package keys

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/audit"
)

// MissingVersionError is data written under a secret version this
// instance does not hold: a value sealed with a master key version, or a
// credential hashed with a pepper version, that is not configured here
// (another instance has it). It is not a store failure: the fix is to add
// the version to this instance's configuration and restart it.
type MissingVersionError struct {
	// Secret is "master_key" or "pepper" (the keys.<Secret> setting).
	Secret  string
	Version uint32
}

// Error implements error.
func (e *MissingVersionError) Error() string {
	what := "sealed with master key"
	if e.Secret == "pepper" {
		what = "hashed with pepper"
	}
	return fmt.Sprintf("%s v%d, which this instance does not hold: add v%d to keys.%s and restart it", what, e.Version, e.Version, e.Secret)
}

// IsMissingVersion reports whether err is, or wraps, a MissingVersionError.
func IsMissingVersion(err error) bool {
	var mv *MissingVersionError
	return errors.As(err, &mv)
}

// Peppers are the pepper versions: credentials are hashed under one
// version (the newest every live instance holds) and verified under the
// version they were hashed with; the audit chain key of each version is
// derived from its pepper.
type Peppers struct {
	current uint32
	byVer   map[uint32]*pepper
}

type pepper struct {
	h     *Hasher
	chain *audit.Chainer
}

// ParsePeppers parses a pepper value: one pepper (version 1), or
// "v<N>:<pepper>" entries separated by commas. A bare pepper is never
// taken for versions: openssl rand -base64 output has no ':' or ','.
func ParsePeppers(s string) (*Peppers, error) {
	s = strings.TrimSpace(s)
	p := &Peppers{byVer: map[uint32]*pepper{}}
	entries := map[uint32]string{1: s}
	if versioned(s) {
		entries = map[uint32]string{}
		for i, part := range strings.Split(s, ",") {
			v, val, ok := strings.Cut(strings.TrimSpace(part), ":")
			n, err := strconv.ParseUint(strings.TrimPrefix(v, "v"), 10, 32)
			if !ok || !strings.HasPrefix(v, "v") || err != nil || n == 0 {
				return nil, fmt.Errorf("entry %d: want v<N>:<pepper>", i+1)
			}
			if _, dup := entries[uint32(n)]; dup {
				return nil, fmt.Errorf("version v%d appears twice", n)
			}
			entries[uint32(n)] = val
		}
	}
	for v, val := range entries {
		h, err := NewHasher([]byte(val))
		if err != nil {
			if len(entries) > 1 {
				return nil, fmt.Errorf("v%d: %v", v, err)
			}
			return nil, err
		}
		c, _ := audit.NewChainerVersion(h.Sum("\x00portcullis-audit-chain-v1"), v)
		p.byVer[v] = &pepper{h: h, chain: c}
		p.current = max(p.current, v)
	}
	return p, nil
}

// versioned reports whether a pepper value is written as versions.
func versioned(s string) bool {
	if strings.Contains(s, ",") {
		return true
	}
	v, _, ok := strings.Cut(s, ":")
	if !ok || len(v) < 2 || v[0] != 'v' {
		return false
	}
	_, err := strconv.ParseUint(v[1:], 10, 32)
	return err == nil
}

// Current is the newest version configured.
func (p *Peppers) Current() uint32 { return p.current }

// Versions are the versions configured, ascending.
func (p *Peppers) Versions() []uint32 { return slices.Sorted(maps.Keys(p.byVer)) }

// Hasher is the hasher of version v.
func (p *Peppers) Hasher(v uint32) (*Hasher, error) {
	if e, ok := p.byVer[max(v, 1)]; ok {
		return e.h, nil
	}
	return nil, &MissingVersionError{Secret: "pepper", Version: v}
}

// Chainer is the audit chain key of version v, or nil.
func (p *Peppers) Chainer(v uint32) *audit.Chainer {
	if e, ok := p.byVer[max(v, 1)]; ok {
		return e.chain
	}
	return nil
}
