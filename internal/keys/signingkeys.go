package keys

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/httpsig"
	"github.com/portcullis/portcullis/internal/store"
)

// A consumer's signing keys are the public keys its HTTP message
// signatures (RFC 9421) are verified with. They are public, so they are not
// secret; what matters is that nobody can swap one: the JWK is sealed with
// the row's consumer, keyid and algorithm under the master key, and a row
// whose sealed copy does not match (edited in the database, or copied to
// another consumer) verifies nothing.

// SigningKeySpec registers a public key.
type SigningKeySpec struct {
	// ConsumerID owns the key (from the path in the admin API).
	ConsumerID string `json:"-"`
	// KeyID is the keyid the consumer's signatures name. Default: the
	// JWK's kid; one of them is required, and they must agree.
	KeyID string `json:"key_id"`
	// PublicKey is a public JWK: OKP Ed25519, EC P-256 or RSA (2048 to
	// 8192 bits, verified as rsa-pss-sha512).
	PublicKey json.RawMessage `json:"public_key"`
	// ExpiresAt is optional (zero: the key does not expire).
	ExpiresAt time.Time `json:"expires_at"`
}

// SigningRotateSpec replaces a signing key by a new one.
type SigningRotateSpec struct {
	KeyID     string          `json:"key_id"`
	PublicKey json.RawMessage `json:"public_key"`
	ExpiresAt time.Time       `json:"expires_at"`
	// Grace is how long the old key keeps verifying; nil takes the
	// configured rotation_grace. At most 30 days; 0 stops it at once.
	Grace *time.Duration `json:"-"`
}

// SigningKey is a signing key as the admin API shows it.
type SigningKey struct {
	ID         string          `json:"id"`
	ConsumerID string          `json:"consumer_id"`
	KeyID      string          `json:"key_id"`
	Alg        string          `json:"alg"`
	PublicKey  json.RawMessage `json:"public_key"`
	// Thumbprint is the JWK's RFC 7638 SHA-256 thumbprint (base64url).
	Thumbprint    string    `json:"thumbprint"`
	State         string    `json:"state"`
	ExpiresAt     time.Time `json:"expires_at,omitzero"`
	GraceUntil    time.Time `json:"grace_until,omitzero"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	SuccessorID   string    `json:"successor_id,omitempty"`
	PredecessorID string    `json:"predecessor_id,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// signingSealed is what a signing key's sealed value holds: the JWK with
// the row fields it must agree with.
type signingSealed struct {
	ConsumerID string          `json:"consumer_id"`
	KeyID      string          `json:"key_id"`
	Alg        string          `json:"alg"`
	JWK        json.RawMessage `json:"jwk"`
}

// maxJWKBytes bounds a submitted JWK (an RSA-8192 key is about 1.5 KiB).
const maxJWKBytes = 8 << 10

var keyIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/+=@-]{0,127}$`)

// parsedKey is a checked public key ready to store.
type parsedKey struct {
	keyID string
	alg   httpsig.Algorithm
	jwk   []byte // the public JWK as stored
	key   httpsig.Key
}

// parsePublicJWK checks a submitted JWK and the keyid it is registered
// under. Problems are reported on field (public_key) and "key_id".
func parsePublicJWK(c *checker, raw json.RawMessage, keyID string) *parsedKey {
	if len(raw) == 0 || len(raw) > maxJWKBytes {
		c.add("public_key", "must be a JWK object of at most %d bytes", maxJWKBytes)
		return nil
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		c.add("public_key", "must be a JWK (OKP Ed25519, EC P-256 or RSA)")
		return nil
	}
	if !jwk.IsPublic() {
		c.add("public_key", "must be a public key: never send the private key")
		return nil
	}
	k, err := httpsig.NewKey(jwk.Key)
	if err != nil {
		c.add("public_key", "must be Ed25519, ECDSA P-256 or RSA of 2048 to 8192 bits")
		return nil
	}
	switch {
	case keyID == "" && jwk.KeyID == "":
		c.add("key_id", "is required (or a kid in the JWK)")
	case keyID != "" && jwk.KeyID != "" && keyID != jwk.KeyID:
		c.add("key_id", "differs from the JWK's kid")
	case keyID == "":
		keyID = jwk.KeyID
	}
	if keyID != "" && !keyIDRe.MatchString(keyID) {
		c.add("key_id", "must match %s", keyIDRe)
	}
	pub := jose.JSONWebKey{Key: jwk.Key, KeyID: keyID}
	b, err := pub.MarshalJSON()
	if err != nil {
		c.add("public_key", "cannot be serialised")
		return nil
	}
	return &parsedKey{keyID: keyID, alg: k.Alg, jwk: b, key: k}
}

func (s *Service) newSigningKey(consumerID string, pk *parsedKey, expires, now time.Time) (*store.SigningKey, error) {
	id, err := NewID()
	if err != nil {
		return nil, err
	}
	sealed, err := s.seal("signing_key", id, signingSealed{ConsumerID: consumerID, KeyID: pk.keyID, Alg: string(pk.alg), JWK: pk.jwk})
	if err != nil {
		return nil, err
	}
	return &store.SigningKey{ID: id, ConsumerID: consumerID, KeyID: pk.keyID, Alg: string(pk.alg), Sealed: sealed,
		State: store.StateActive, ExpiresAt: expires.UTC(), CreatedAt: now}, nil
}

// AddSigningKey registers a public key for a consumer.
func (s *Service) AddSigningKey(ctx context.Context, spec SigningKeySpec) (*SigningKey, error) {
	if !CheckID(spec.ConsumerID) {
		return nil, store.ErrNotFound
	}
	var c checker
	now := s.clock.Now().UTC()
	pk := parsePublicJWK(&c, spec.PublicKey, spec.KeyID)
	c.expiry("expires_at", spec.ExpiresAt, now)
	if err := c.err(); err != nil {
		return nil, err
	}
	k, err := s.newSigningKey(spec.ConsumerID, pk, spec.ExpiresAt, now)
	if err != nil {
		return nil, err
	}
	if err := s.st.CreateSigningKey(ctx, k, s.auditFor(ctx, "signing_key:"+k.ID)); err != nil {
		return nil, err
	}
	return s.signingView(k)
}

// GetSigningKey returns a signing key with its public JWK.
func (s *Service) GetSigningKey(ctx context.Context, id string) (*SigningKey, error) {
	if !CheckID(id) {
		return nil, store.ErrNotFound
	}
	k, err := s.st.GetSigningKey(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.signingView(k)
}

// ListSigningKeys returns one page of a consumer's signing keys and the
// next page's cursor.
func (s *Service) ListSigningKeys(ctx context.Context, consumerID, after string, limit int) ([]*SigningKey, string, error) {
	if !CheckID(consumerID) {
		return nil, "", store.ErrNotFound
	}
	if _, err := s.st.GetConsumer(ctx, consumerID); err != nil {
		return nil, "", err
	}
	rows, err := s.st.ListSigningKeys(ctx, consumerID, store.Page{After: after, Limit: limit + 1})
	if err != nil {
		return nil, "", err
	}
	return page(rows, limit, func(k *store.SigningKey) string { return k.ID }, s.signingView)
}

// RotateSigningKey registers the successor of an active key, which keeps
// verifying for the grace period. It returns the successor and the old
// key.
func (s *Service) RotateSigningKey(ctx context.Context, id string, spec SigningRotateSpec) (*SigningKey, *SigningKey, error) {
	old, err := s.GetSigningKey(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	var c checker
	now := s.clock.Now().UTC()
	grace := s.o.RotationGrace
	if spec.Grace != nil {
		grace = *spec.Grace
		if grace < 0 || grace > config.MaxRotationGrace {
			c.add("grace", "must be between 0s and 30d")
		}
	}
	pk := parsePublicJWK(&c, spec.PublicKey, spec.KeyID)
	c.expiry("expires_at", spec.ExpiresAt, now)
	if err := c.err(); err != nil {
		return nil, nil, err
	}
	if old.State != StateActive {
		return nil, nil, fmt.Errorf("%w: the signing key is %s, only an active key can be rotated", store.ErrConflict, old.State)
	}
	k, err := s.newSigningKey(old.ConsumerID, pk, spec.ExpiresAt, now)
	if err != nil {
		return nil, nil, err
	}
	if err := s.st.RotateSigningKey(ctx, id, now.Add(grace), k, s.auditFor(ctx, "")); err != nil {
		return nil, nil, err
	}
	next, err := s.signingView(k)
	if err != nil {
		return nil, nil, err
	}
	prev, err := s.GetSigningKey(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return next, prev, nil
}

// RevokeSigningKey stops a signing key at once, on every instance.
func (s *Service) RevokeSigningKey(ctx context.Context, id string) (*SigningKey, error) {
	if !CheckID(id) {
		return nil, store.ErrNotFound
	}
	if err := s.st.RevokeSigningKey(ctx, id, s.clock.Now().UTC(), s.auditFor(ctx, "")); err != nil {
		return nil, err
	}
	return s.GetSigningKey(ctx, id)
}

// openSigning decrypts a signing key's sealed value and checks it agrees
// with its row.
func (s *Service) openSigning(k *store.SigningKey) (*signingSealed, error) {
	var v signingSealed
	if err := s.openSealed(k.Sealed, "signing_key", k.ID, &v); err != nil {
		return nil, fmt.Errorf("reading signing key: %w", err)
	}
	if v.ConsumerID != k.ConsumerID || v.KeyID != k.KeyID || v.Alg != k.Alg {
		return nil, fmt.Errorf("signing key %s: the stored row does not match its sealed copy", k.ID)
	}
	return &v, nil
}

func (s *Service) signingView(k *store.SigningKey) (*SigningKey, error) {
	v, err := s.openSigning(k)
	if err != nil {
		return nil, err
	}
	thumb := ""
	var jwk jose.JSONWebKey
	if jwk.UnmarshalJSON(v.JWK) == nil {
		if t, err := jwk.Thumbprint(crypto.SHA256); err == nil {
			thumb = base64.RawURLEncoding.EncodeToString(t)
		}
	}
	return &SigningKey{
		ID: k.ID, ConsumerID: k.ConsumerID, KeyID: k.KeyID, Alg: k.Alg, PublicKey: v.JWK, Thumbprint: thumb,
		State:     effectiveState(k.State, k.ExpiresAt, k.GraceUntil, s.clock.Now()),
		ExpiresAt: k.ExpiresAt, GraceUntil: k.GraceUntil, RevokedAt: k.RevokedAt,
		SuccessorID: k.SuccessorID, PredecessorID: k.PredecessorID, CreatedAt: k.CreatedAt,
	}, nil
}

// ---- identities

// IdentitySpec maps a token issuer's client to a consumer.
type IdentitySpec struct {
	// ConsumerID owns the mapping (from the path in the admin API).
	ConsumerID string `json:"-"`
	// Issuer is the token's iss exactly; "" for callers without an issuer
	// (client certificates).
	Issuer string `json:"issuer"`
	// ClientID is the consumer id the gateway derives from the token
	// (the configured claim, else client_id, else azp).
	ClientID string `json:"client_id"`
}

// Identity is a mapping as the admin API shows it.
type Identity struct {
	ID         string    `json:"id"`
	ConsumerID string    `json:"consumer_id"`
	Issuer     string    `json:"issuer"`
	ClientID   string    `json:"client_id"`
	CreatedAt  time.Time `json:"created_at"`
}

func identityView(i *store.Identity) (*Identity, error) {
	return &Identity{ID: i.ID, ConsumerID: i.ConsumerID, Issuer: i.Issuer, ClientID: i.ClientID, CreatedAt: i.CreatedAt}, nil
}

// CreateIdentity maps an issuer's client to a consumer, whose signing keys
// then verify that client's signatures.
func (s *Service) CreateIdentity(ctx context.Context, spec IdentitySpec) (*Identity, error) {
	if !CheckID(spec.ConsumerID) {
		return nil, store.ErrNotFound
	}
	var c checker
	if len(spec.Issuer) > 512 || !printable(spec.Issuer) {
		c.add("issuer", "must be at most 512 printable characters")
	}
	if spec.ClientID == "" || len(spec.ClientID) > 256 || !printable(spec.ClientID) {
		c.add("client_id", "must be 1 to 256 printable characters")
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	id, err := NewID()
	if err != nil {
		return nil, err
	}
	i := &store.Identity{ID: id, Issuer: spec.Issuer, ClientID: spec.ClientID, ConsumerID: spec.ConsumerID, CreatedAt: s.clock.Now().UTC()}
	if err := s.st.CreateIdentity(ctx, i, s.auditFor(ctx, "identity:"+id)); err != nil {
		return nil, err
	}
	return identityView(i)
}

// ListIdentities returns one page of a consumer's mappings.
func (s *Service) ListIdentities(ctx context.Context, consumerID, after string, limit int) ([]*Identity, string, error) {
	if !CheckID(consumerID) {
		return nil, "", store.ErrNotFound
	}
	if _, err := s.st.GetConsumer(ctx, consumerID); err != nil {
		return nil, "", err
	}
	rows, err := s.st.ListIdentities(ctx, consumerID, store.Page{After: after, Limit: limit + 1})
	if err != nil {
		return nil, "", err
	}
	return page(rows, limit, func(i *store.Identity) string { return i.ID }, identityView)
}

// GetIdentity returns one mapping.
func (s *Service) GetIdentity(ctx context.Context, id string) (*Identity, error) {
	if !CheckID(id) {
		return nil, store.ErrNotFound
	}
	i, err := s.st.GetIdentity(ctx, id)
	if err != nil {
		return nil, err
	}
	return identityView(i)
}

// DeleteIdentity removes a mapping: the client's signatures stop verifying
// at once, on every instance.
func (s *Service) DeleteIdentity(ctx context.Context, id string) error {
	if !CheckID(id) {
		return store.ErrNotFound
	}
	return s.st.DeleteIdentity(ctx, id, s.auditFor(ctx, ""))
}

// ---- resolution on the request path

// Signer is who a signature claims to come from, as authentication
// established it.
type Signer struct {
	// ConsumerID is the authenticated consumer id.
	ConsumerID string
	// Direct is true when ConsumerID is a consumer of this key store (an
	// API-key caller); otherwise the consumer is found through the
	// identity mapping of (Issuer, ConsumerID).
	Direct bool
	// Issuer is the token's issuer ("" without one).
	Issuer string
}

var (
	// ErrNoSigningKey: the keyid names no usable key of the caller's
	// consumer (unknown, revoked, expired, of another consumer, or the
	// caller is mapped to no consumer). Answer 401.
	ErrNoSigningKey = errors.New("no such signing key for this consumer")
	// ErrSigningKeysUnavailable: the key store could not be read and
	// nothing usable is cached. Answer 503.
	ErrSigningKeysUnavailable = errors.New("signing keys unavailable")
)

// SigningKey returns the verification key keyID names among the keys of
// the signer's consumer, and only there: a keyid of another consumer never
// resolves. Errors wrap ErrNoSigningKey or ErrSigningKeysUnavailable.
func (s *Service) SigningKey(ctx context.Context, who Signer, keyID string) (httpsig.Key, error) {
	now := s.clock.Now()
	consumer := who.ConsumerID
	if !who.Direct {
		var err error
		if consumer, err = s.mappedConsumer(ctx, who.Issuer, who.ConsumerID, now); err != nil {
			return httpsig.Key{}, err
		}
	}
	if consumer == "" || keyID == "" {
		return httpsig.Key{}, ErrNoSigningKey
	}
	rec, err := s.signingRecord(ctx, consumer, keyID, now)
	if err != nil {
		return httpsig.Key{}, err
	}
	if rec == nil || !rec.usable(now) {
		return httpsig.Key{}, ErrNoSigningKey
	}
	return rec.key, nil
}

// signingRec is a signing key decrypted for verification; nil in the cache
// means "no such key".
type signingRec struct {
	key        httpsig.Key
	state      string
	expiresAt  time.Time
	graceUntil time.Time
	consumerOK bool
}

func (r *signingRec) usable(now time.Time) bool {
	return r.consumerOK && effectiveState(r.state, r.expiresAt, r.graceUntil, now) != StateExpired &&
		(r.state == StateActive || r.state == StateRotating)
}

func (s *Service) mappedConsumer(ctx context.Context, issuer, client string, now time.Time) (string, error) {
	ck := "i\x00" + issuer + "\x00" + client
	v, err := s.sigCache.load(ck, now, s.o, func() (any, error) {
		i, err := s.st.FindIdentity(ctx, issuer, client)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return i.ConsumerID, nil
	})
	if err != nil {
		return "", err
	}
	if v == nil {
		return "", fmt.Errorf("%w: the caller is mapped to no consumer", ErrNoSigningKey)
	}
	return v.(string), nil
}

func (s *Service) signingRecord(ctx context.Context, consumer, keyID string, now time.Time) (*signingRec, error) {
	ck := "k\x00" + consumer + "\x00" + keyID
	v, err := s.sigCache.load(ck, now, s.o, func() (any, error) {
		k, c, err := s.st.FindSigningKey(ctx, consumer, keyID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		sealed, err := s.openSigning(k)
		if err != nil {
			// A row that does not match its sealed copy verifies nothing,
			// and says so in the log.
			s.log.Error("signing key failed its integrity check; it verifies nothing", "signing_key", k.ID, "error", err.Error())
			return nil, nil
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(sealed.JWK); err != nil {
			return nil, fmt.Errorf("signing key %s: stored JWK: %w", k.ID, err)
		}
		key, err := httpsig.NewKey(jwk.Key)
		if err != nil || string(key.Alg) != k.Alg {
			return nil, fmt.Errorf("signing key %s: stored key unusable", k.ID)
		}
		return &signingRec{key: key, state: k.State, expiresAt: k.ExpiresAt, graceUntil: k.GraceUntil,
			consumerOK: c != nil && !c.Disabled}, nil
	})
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	return v.(*signingRec), nil
}
