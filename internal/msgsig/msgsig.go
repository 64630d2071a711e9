// Package msgsig owns HTTP Message Signatures (RFC 9421) on the gateway's
// request path: verifying that a request is signed by a key of the
// consumer that authenticated (with its Content-Digest, RFC 9530, checked
// against the body received, and its nonce accepted once per consumer
// through the shared store), signing the request sent upstream after the
// forwarder's final rewrite, and signing the response a client gets
// (replays included). The signature mechanics are package httpsig's; where
// consumers' keys come from is package keys'.
package msgsig

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/httpsig"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/sharedstate"
)

// KeyResolver finds a consumer's verification key by keyid, within that
// consumer only (a *keys.Service).
type KeyResolver interface {
	SigningKey(ctx context.Context, who keys.Signer, keyID string) (httpsig.Key, error)
}

// Deps are what a runtime's signature stages share.
type Deps struct {
	// Keys resolves consumers' keys (required for verification).
	Keys KeyResolver
	// Nonces remembers accepted nonces (required for verification).
	Nonces sharedstate.Store
	// Metrics counts checks and signatures (nil: none).
	Metrics *observe.IntegrityMetrics
	Log     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Runtime is the part of message signatures one runtime shares between
// its routes: the dependencies and the gateway's own signing key.
type Runtime struct {
	deps     Deps
	signing  config.MessageSigning
	key      *httpsig.SigningKey // nil when no route signs
	identity []string            // identity header names, lowercased
}

// NewRuntime loads the gateway's signing key when cfg says a route signs.
// Errors name the config path.
func NewRuntime(cfg *config.Config, deps Deps) (*Runtime, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	rt := &Runtime{deps: deps, signing: cfg.MessageSigning}
	for _, h := range identityHeaderNames(cfg.IdentityHeaders) {
		rt.identity = append(rt.identity, strings.ToLower(h))
	}
	if cfg.MessageSigning.KeyFile != "" {
		k, err := LoadSigningKey(cfg.MessageSigning.KeyFile, cfg.MessageSigning.KeyID)
		if err != nil {
			return nil, config.FieldError{Path: "message_signing.key_file", Message: err.Error()}
		}
		rt.key = &k
	}
	return rt, nil
}

// identityHeaderNames lists the configured identity header names.
func identityHeaderNames(h config.IdentityHeaders) []string {
	var out []string
	for _, n := range []string{h.ConsumerID, h.Subject, h.Scopes, h.Roles, h.Method, h.CredentialID} {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// maxKeyFile bounds the signing key file.
const maxKeyFile = 64 << 10

// LoadSigningKey reads a PEM PKCS#8 private key (Ed25519, ECDSA P-256 or
// RSA) as the gateway's signing key with keyid.
func LoadSigningKey(path, keyID string) (httpsig.SigningKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return httpsig.SigningKey{}, fmt.Errorf("cannot read the signing key: %v", err)
	}
	if len(b) > maxKeyFile {
		return httpsig.SigningKey{}, errors.New("the signing key file is larger than 64KiB")
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return httpsig.SigningKey{}, errors.New(`want a PEM "PRIVATE KEY" (PKCS#8) block`)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return httpsig.SigningKey{}, errors.New("the PKCS#8 key cannot be parsed")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return httpsig.SigningKey{}, errors.New("the key cannot sign")
	}
	sk, err := httpsig.NewSigningKey(keyID, s)
	if err != nil {
		return httpsig.SigningKey{}, errors.New("the key must be Ed25519, ECDSA P-256 or RSA of 2048 to 8192 bits")
	}
	return sk, nil
}

// signerWho is how a principal's keys are found.
func signerWho(p *principal.Principal) keys.Signer {
	return keys.Signer{ConsumerID: p.ConsumerID, Direct: p.Method == principal.MethodAPIKey, Issuer: p.Issuer()}
}

// nonceKey scopes a nonce to the caller: one consumer cannot burn
// another's nonces, and both parts are hashed before they reach the store.
func nonceKey(p *principal.Principal, nonce string) sharedstate.Key {
	scope := sha256.Sum256([]byte(p.Issuer() + "\x00" + p.ConsumerID))
	id := sha256.Sum256([]byte(nonce))
	return sharedstate.Key{
		Scope: "sig:" + base64.RawURLEncoding.EncodeToString(scope[:16]),
		ID:    base64.RawURLEncoding.EncodeToString(id[:]),
	}
}

// signers compiles one httpsig.Signer per set of covered components: the
// components a message actually has vary (a header absent from it is left
// out), and compiling is done once per set.
type signers struct {
	base httpsig.SignerConfig
	m    sync.Map // joined component list -> *httpsig.Signer
}

func (s *signers) get(comps []string) (*httpsig.Signer, error) {
	k := strings.Join(comps, "\x00")
	if v, ok := s.m.Load(k); ok {
		return v.(*httpsig.Signer), nil
	}
	c := s.base
	c.Components = comps
	sg, err := httpsig.NewSigner(c)
	if err != nil {
		return nil, err
	}
	s.m.Store(k, sg)
	return sg, nil
}

// present keeps the components m has: derived ones always, fields only
// when h carries them.
func present(comps []string, h http.Header) []string {
	out := make([]string, 0, len(comps))
	for _, s := range comps {
		c, err := httpsig.ParseComponent(s)
		if err != nil {
			continue // validated at load
		}
		if c.Derived() || len(h.Values(c.Name)) > 0 {
			out = append(out, s)
		}
	}
	return out
}
