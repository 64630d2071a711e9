package keys

import (
	"fmt"

	"github.com/portcullis/portcullis/internal/config"
)

// Secrets are the server secrets keys depend on: the pepper versions
// (hashing credentials, and the audit chain keys derived from them) and
// the master keyring.
type Secrets struct {
	Peppers *Peppers
	Keyring *Keyring
}

// NewSecrets builds Secrets from raw values (LoadSecrets reads them from
// where the config says; tests and the demo pass them directly). Both may
// list several versions.
func NewSecrets(pepper []byte, masterKey string) (*Secrets, error) {
	p, err := ParsePeppers(string(pepper))
	if err != nil {
		return nil, err
	}
	k, err := ParseKeyring(masterKey)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return &Secrets{Peppers: p, Keyring: k}, nil
}

// LoadSecrets reads the pepper and master key from where cfg says (the
// environment through env, or files). Every problem is reported with its
// config path; no message ever contains a secret.
func LoadSecrets(cfg config.Keys, env config.LookupEnv) (*Secrets, error) {
	var errs config.Errors
	s := &Secrets{}
	if v, ok := readSecret(&errs, "keys.pepper", cfg.Pepper, env); ok {
		p, err := ParsePeppers(v)
		if err != nil {
			errs.Add("keys.pepper", "%v (generate one with: openssl rand -base64 48)", err)
		}
		s.Peppers = p
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
	return fmt.Sprintf("keys.Secrets{master key v%d, pepper v%d}", s.Keyring.Current(), s.Peppers.Current())
}
