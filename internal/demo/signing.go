package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/store"
)

// SigningJWK is the demo consumer's private Ed25519 key as a JWK, as the
// credentials file carries it (signing_key) for examples/signed-transfer.
type SigningJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	D   string `json:"d"`
	Kid string `json:"kid"`
}

// seedSigning gives the demo consumer a fresh message-signing key (a new
// keyid each run: keyids are never reused) and maps the demo issuer's
// client to it, so that the token's caller signs with the consumer's keys.
func seedSigning(ctx context.Context, svc *keys.Service, issuerURL, client string) (*SigningJWK, error) {
	c, err := findConsumer(ctx, svc, "demo")
	if err != nil {
		return nil, fmt.Errorf("demo consumer: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	kid := "demo-" + time.Now().UTC().Format("20060102T150405.000")
	jwk, err := jose.JSONWebKey{Key: pub, KeyID: kid}.MarshalJSON()
	if err != nil {
		return nil, err
	}
	add := &audit.Event{Actor: "demo", Role: "admin", Action: "signing_key.add", Outcome: audit.OutcomeSuccess}
	if _, err := svc.AddSigningKey(keys.WithAuditEvent(ctx, add), keys.SigningKeySpec{ConsumerID: c.ID, PublicKey: jwk}); err != nil {
		return nil, fmt.Errorf("demo signing key: %w", err)
	}
	mapping := &audit.Event{Actor: "demo", Role: "admin", Action: "identity.create", Outcome: audit.OutcomeSuccess}
	_, err = svc.CreateIdentity(keys.WithAuditEvent(ctx, mapping), keys.IdentitySpec{ConsumerID: c.ID, Issuer: issuerURL, ClientID: client})
	if err != nil && !errors.Is(err, store.ErrConflict) { // a reused data dir may map it already
		return nil, fmt.Errorf("demo identity mapping: %w", err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	return &SigningJWK{Kty: "OKP", Crv: "Ed25519", X: b64(pub), D: b64(priv.Seed()), Kid: kid}, nil
}
