package keys

import (
	"fmt"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/config"
)

// Secrets are the server secrets keys depend on: the pepper (as a Hasher
// and, derived from it, the audit chain key) and the master keyring.
type Secrets struct {
	Hasher  *Hasher
	Keyring *Keyring
	Chainer *audit.Chainer
}

// NewSecrets builds Secrets from raw values (LoadSecrets reads them from
// where the config says; tests and the demo pass them directly).
func NewSecrets(pepper []byte, masterKey string) (*Secrets, error) {
	h, err := NewHasher(pepper)
	if err != nil {
		return nil, err
	}
	k, err := ParseKeyring(masterKey)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return &Secrets{Hasher: h, Keyring: k, Chainer: auditChainer(h)}, nil
}

// auditChainer derives the audit chain key from the pepper. No credential
// starts with a NUL byte, so the derived key is never a credential hash.
func auditChainer(h *Hasher) *audit.Chainer {
	c, _ := audit.NewChainer(h.Sum("\x00portcullis-audit-chain-v1"))
	return c
}

// LoadSecrets reads the pepper and master key from where cfg says (the
// environment through env, or files). Every problem is reported with its
// config path; no message ever contains a secret.
func LoadSecrets(cfg config.Keys, env config.LookupEnv) (*Secrets, error) {
	var errs config.Errors
	s := &Secrets{}
	if v, ok := readSecret(&errs, "keys.pepper", cfg.Pepper, env); ok {
		h, err := NewHasher([]byte(v))
		if err != nil {
			errs.Add("keys.pepper", "%v (generate one with: openssl rand -base64 48)", err)
		}
		s.Hasher = h
		if h != nil {
			s.Chainer = auditChainer(h)
		}
	}
	if v, ok := readSecret(&errs, "keys.master_key", cfg.MasterKey, env); ok {
		k, err := ParseKeyring(v)
		if err != nil {
			errs.Add("keys.master_key", "%v (generate one with: echo v1:$(openssl rand -base64 32))", err)
		}
		s.Keyring = k
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

func readSecret(errs *config.Errors, path string, ref config.SecretRef, env config.LookupEnv) (string, bool) {
	v, err := ref.Read(env)
	if err != nil {
		errs.Merge(path, prefixed(path, err))
		return "", false
	}
	return v, true
}

// prefixed puts a SecretRef.Read error under path.
func prefixed(path string, err error) error {
	if fe, ok := err.(config.FieldError); ok {
		return config.FieldError{Path: config.Join(path, fe.Path), Message: fe.Message}
	}
	return err
}

// String never prints the secrets.
func (s *Secrets) String() string {
	return fmt.Sprintf("keys.Secrets{master key v%d}", s.Keyring.Current())
}
