package config

import (
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/httpsig"
)

// Idempotency is a route's Idempotency-Key enforcement
// (draft-ietf-httpapi-idempotency-key-header): a request carrying a key is
// forwarded once per consumer and key, and its answer replayed to retries.
type Idempotency struct {
	// Required refuses a request of one of Methods without a key (400).
	// Default false: a key is honoured when sent.
	Required bool `yaml:"required"`
	// Methods the key applies to. Default [POST, PATCH]; at least one.
	Methods []string `yaml:"methods"`
	// TTL is how long a key is remembered after its request, and how long
	// an in-doubt key refuses retries. Default 24h; 1s to 30d.
	TTL Duration `yaml:"ttl"`
	// MaxKeyBytes bounds the key. Default 255; 1 to 1024.
	MaxKeyBytes int `yaml:"max_key_bytes"`
	// MaxResponseBytes bounds the stored response body; a larger answer is
	// passed to the client, not stored, and leaves the key in doubt.
	// Default 64KiB; at most shared_state.max_value_bytes.
	MaxResponseBytes ByteSize `yaml:"max_response_bytes"`
	// FingerprintHeaders are request headers that belong to the request's
	// fingerprint besides method, route and body. Default [Content-Type].
	FingerprintHeaders []string `yaml:"fingerprint_headers"`
	// ReplayHeaders are the response headers stored and replayed. Default
	// [Content-Type, Content-Encoding, Location]. Set-Cookie is never
	// stored.
	ReplayHeaders []string `yaml:"replay_headers"`
}

// Idempotency defaults.
const (
	DefaultIdempotencyTTL       = 24 * time.Hour
	DefaultIdempotencyKeyBytes  = 255
	DefaultIdempotencyRespBytes = 64 << 10
	MaxIdempotencyTTL           = 30 * 24 * time.Hour
)

func (Idempotency) defaults() any {
	return Idempotency{
		Methods:            []string{"POST", "PATCH"},
		TTL:                Duration(DefaultIdempotencyTTL),
		MaxKeyBytes:        DefaultIdempotencyKeyBytes,
		MaxResponseBytes:   DefaultIdempotencyRespBytes,
		FingerprintHeaders: []string{"Content-Type"},
		ReplayHeaders:      []string{"Content-Type", "Content-Encoding", "Location"},
	}
}

// RouteSignatures are a route's HTTP Message Signatures (RFC 9421).
type RouteSignatures struct {
	// Verify, when set, requires every request to carry a signature by a
	// key of the authenticated consumer (401 otherwise). Default: none.
	Verify *SignatureVerify `yaml:"verify"`
	// SignUpstream signs requests to the upstream with message_signing's
	// key, after every header the gateway sets. Default false.
	SignUpstream bool `yaml:"sign_upstream"`
	// SignResponses signs the responses clients get (replays included)
	// with message_signing's key. Default false.
	SignResponses bool `yaml:"sign_responses"`
}

// SignatureVerify is what a request's signature must satisfy.
type SignatureVerify struct {
	// Components the signature must cover (component identifiers such as
	// "@method", "content-digest", `"@query-param";name="id"`). Default
	// ["@method", "@target-uri", "content-digest", "content-type"];
	// @target-uri covers @scheme, @authority, @path and @query. A covered
	// content-digest is checked against the body received.
	Components []string `yaml:"components"`
	// MaxAge bounds how old (created) a signature may be. Default 5m; 1s
	// to 1h.
	MaxAge Duration `yaml:"max_age"`
	// ClockSkew is tolerated on created and expires. Default 30s; 1s to
	// 5m.
	ClockSkew Duration `yaml:"clock_skew"`
	// RequireNonce refuses signatures without a nonce; a nonce is accepted
	// once per consumer within max_age. Default true.
	RequireNonce *bool `yaml:"require_nonce"`
	// Algorithms accepted. Default [ed25519, ecdsa-p256-sha256,
	// rsa-pss-sha512] (hmac-sha256 is never accepted: consumer keys are
	// public keys).
	Algorithms []string `yaml:"algorithms"`
	// Tag, when set, selects the signature by its tag parameter and
	// requires it. Default "".
	Tag string `yaml:"tag"`
	// Origin is the public scheme://host[:port] clients sign (@authority,
	// @scheme, @target-uri) when the gateway sits behind a proxy that
	// changes them. Default "": the connection's scheme and Host.
	Origin string `yaml:"origin"`
}

// Signature verification defaults.
const (
	DefaultSignatureMaxAge    = 5 * time.Minute
	DefaultSignatureClockSkew = 30 * time.Second
)

func (SignatureVerify) defaults() any {
	return SignatureVerify{
		Components:   []string{"@method", "@target-uri", "content-digest", "content-type"},
		MaxAge:       Duration(DefaultSignatureMaxAge),
		ClockSkew:    Duration(DefaultSignatureClockSkew),
		RequireNonce: ptr(true),
		Algorithms:   []string{"ed25519", "ecdsa-p256-sha256", "rsa-pss-sha512"},
	}
}

// MessageSigning is the gateway's own signing key and what it signs, for
// routes with signatures.sign_upstream or sign_responses.
type MessageSigning struct {
	// KeyFile is a PEM PKCS#8 private key: Ed25519, ECDSA P-256 or RSA
	// (2048 to 8192 bits, signed as rsa-pss-sha512). Required when a route
	// signs. Re-read on reload.
	KeyFile string `yaml:"key_file"`
	// KeyID is the keyid parameter of the gateway's signatures. Required
	// with key_file.
	KeyID string `yaml:"key_id"`
	// Label is the gateway's signature label. Default "portcullis".
	Label string `yaml:"label"`
	// RequestComponents are covered in requests to upstreams: a header
	// absent from the request is left out; the identity_headers present
	// are always added. Default ["@method", "@authority", "@path",
	// "@query", "content-digest", "content-type", "forwarded",
	// "x-forwarded-for", "x-request-id"]. content-digest is computed by the
	// gateway over the body it forwards.
	RequestComponents []string `yaml:"request_components"`
	// ResponseComponents are covered in responses to clients (a header
	// absent from the response is left out). Default ["@status",
	// "content-type", "content-digest"]; content-digest is computed over
	// the body sent.
	ResponseComponents []string `yaml:"response_components"`
	// MaxResponseBytes bounds a response body the gateway reads to sign its
	// digest; a larger one is refused with 502 (never sent unsigned).
	// Default 1MiB.
	MaxResponseBytes ByteSize `yaml:"max_response_bytes"`
	// TTL adds expires = created + ttl. Default 5m; 0 leaves expires out.
	TTL Duration `yaml:"ttl"`
	// Nonce adds a random nonce to every signature. Default true.
	Nonce *bool `yaml:"nonce"`
}

// Message signing defaults.
const (
	DefaultSigningLabel         = "portcullis"
	DefaultSigningResponseBytes = 1 << 20
	DefaultSigningTTL           = 5 * time.Minute
)

func (MessageSigning) defaults() any {
	return MessageSigning{
		Label: DefaultSigningLabel,
		RequestComponents: []string{"@method", "@authority", "@path", "@query", "content-digest", "content-type",
			"forwarded", "x-forwarded-for", "x-request-id"},
		ResponseComponents: []string{"@status", "content-type", "content-digest"},
		MaxResponseBytes:   DefaultSigningResponseBytes,
		TTL:                Duration(DefaultSigningTTL),
		Nonce:              ptr(true),
	}
}

// SharedState is the store of short-lived entries request stages agree on:
// idempotency keys with their responses, and signature nonces. It lives in
// Redis when rate_limits.store.type is redis (the same connection,
// keys under rate_limits.store.redis.key_prefix + "ss:"), shared by every
// instance and kept across gateway restarts; otherwise in this process's
// memory, bounded and lost on restart.
type SharedState struct {
	// MaxEntries bounds the in-memory store; when full, new entries are
	// refused (idempotent requests get 503), never evicted. Default
	// 100000.
	MaxEntries int `yaml:"max_entries"`
	// MaxValueBytes bounds one stored value (a response with its headers).
	// Default 1MiB; at most 16MiB.
	MaxValueBytes ByteSize `yaml:"max_value_bytes"`
}

// Shared state defaults.
const (
	DefaultSharedStateEntries    = 100000
	DefaultSharedStateValueBytes = 1 << 20
)

func (SharedState) defaults() any {
	return SharedState{MaxEntries: DefaultSharedStateEntries, MaxValueBytes: DefaultSharedStateValueBytes}
}

// SignaturesInUse reports whether a route verifies signatures (consumers'
// keys are then read from the key store).
func (c *Config) SignaturesInUse() bool {
	for _, r := range c.Routes {
		if r.Signatures != nil && r.Signatures.Verify != nil {
			return true
		}
	}
	return false
}

// signingInUse reports whether a route signs with the gateway's key.
func (c *Config) signingInUse() bool {
	for _, r := range c.Routes {
		if s := r.Signatures; s != nil && (s.SignUpstream || s.SignResponses) {
			return true
		}
	}
	return false
}

// validateIntegrity checks idempotency, signatures, message_signing and
// shared_state.
func (c *Config) validateIntegrity(errs *Errors) {
	ss := c.SharedState
	if ss.MaxEntries < 1 || ss.MaxEntries > 100_000_000 {
		errs.Add("shared_state.max_entries", "must be between 1 and 100000000")
	}
	if ss.MaxValueBytes < 1 || ss.MaxValueBytes > 16<<20 {
		errs.Add("shared_state.max_value_bytes", "must be between 1 byte and 16MiB")
	}
	if r := c.RateLimits.Store.Redis; r != nil && strings.ContainsAny(r.KeyPrefix, "{}") && (c.idempotencyInUse() || c.SignaturesInUse()) {
		errs.Add("rate_limits.store.redis.key_prefix", "must not contain { or }: shared state keys take their Redis Cluster hash tag from braces")
	}
	for i, r := range c.Routes {
		p := Index("routes", i)
		if r.Idempotency != nil {
			r.Idempotency.validate(errs, Join(p, "idempotency"), ss)
			if r.Auth == nil || r.Auth.None {
				errs.Add(Join(p, "idempotency"), "needs an authenticated route: keys are scoped to the consumer")
			}
		}
		if s := r.Signatures; s != nil {
			sp := Join(p, "signatures")
			if s.Verify != nil {
				s.Verify.validate(errs, Join(sp, "verify"))
				if r.Auth == nil || r.Auth.None {
					errs.Add(Join(sp, "verify"), "needs an authenticated route: keys are looked up among the consumer's own")
				}
			}
			if (s.SignUpstream || s.SignResponses) && c.MessageSigning.KeyFile == "" {
				errs.Add(Join(sp, "sign_upstream"), "needs message_signing.key_file")
			}
		}
	}
	if c.MessageSigning.KeyFile != "" || c.signingInUse() {
		c.MessageSigning.validate(errs, "message_signing")
	}
}

func (c *Config) idempotencyInUse() bool {
	for _, r := range c.Routes {
		if r.Idempotency != nil {
			return true
		}
	}
	return false
}

func (id *Idempotency) validate(errs *Errors, p string, ss SharedState) {
	if len(id.Methods) == 0 {
		errs.Add(Join(p, "methods"), "must name at least one method")
	}
	for j, m := range id.Methods {
		mp := Index(Join(p, "methods"), j)
		switch {
		case !knownMethods[m]:
			errs.Add(mp, "unsupported method %q", m)
		case m == "GET" || m == "HEAD" || m == "OPTIONS":
			errs.Add(mp, "%s is safe by definition: idempotency keys are for POST, PATCH, PUT and DELETE", m)
		case slices.Contains(id.Methods[:j], m):
			errs.Add(mp, "duplicate method %q", m)
		}
	}
	if d := id.TTL.D(); d < time.Second || d > MaxIdempotencyTTL {
		errs.Add(Join(p, "ttl"), "must be between 1s and 30d")
	}
	if id.MaxKeyBytes < 1 || id.MaxKeyBytes > 1024 {
		errs.Add(Join(p, "max_key_bytes"), "must be between 1 and 1024")
	}
	if id.MaxResponseBytes < 0 || id.MaxResponseBytes > ss.MaxValueBytes-MaxStoredHeaderBytes {
		errs.Add(Join(p, "max_response_bytes"), "must be between 0 and shared_state.max_value_bytes less 8KiB for the headers")
	}
	for j, h := range id.FingerprintHeaders {
		validHeaderName(errs, Index(Join(p, "fingerprint_headers"), j), h)
	}
	for j, h := range id.ReplayHeaders {
		hp := Index(Join(p, "replay_headers"), j)
		validHeaderName(errs, hp, h)
		if strings.EqualFold(h, "Set-Cookie") {
			errs.Add(hp, "Set-Cookie is never stored: a replay must not hand a session to whoever retries")
		}
	}
}

// MaxStoredHeaderBytes is the room a stored response keeps for its status
// and replayed headers within shared_state.max_value_bytes.
const MaxStoredHeaderBytes = 8 << 10

func (v *SignatureVerify) validate(errs *Errors, p string) {
	validComponents(errs, Join(p, "components"), v.Components, false)
	if d := v.MaxAge.D(); d < time.Second || d > time.Hour {
		errs.Add(Join(p, "max_age"), "must be between 1s and 1h")
	}
	if d := v.ClockSkew.D(); d < time.Second || d > 5*time.Minute {
		errs.Add(Join(p, "clock_skew"), "must be between 1s and 5m")
	}
	if len(v.Algorithms) == 0 {
		errs.Add(Join(p, "algorithms"), "must name at least one algorithm")
	}
	for j, a := range v.Algorithms {
		ap := Index(Join(p, "algorithms"), j)
		switch httpsig.Algorithm(a) {
		case httpsig.AlgEd25519, httpsig.AlgECDSAP256SHA256, httpsig.AlgRSAPSSSHA512:
			if slices.Contains(v.Algorithms[:j], a) {
				errs.Add(ap, "duplicate algorithm %q", a)
			}
		case httpsig.AlgHMACSHA256:
			errs.Add(ap, "hmac-sha256 needs a shared secret; consumers register public keys")
		default:
			errs.Add(ap, "must be ed25519, ecdsa-p256-sha256 or rsa-pss-sha512; got %q", a)
		}
	}
	if v.Tag != "" && !printableASCII(v.Tag) {
		errs.Add(Join(p, "tag"), "must be printable ASCII")
	}
	if v.Origin != "" {
		if _, _, ok := SplitOrigin(v.Origin); !ok {
			errs.Add(Join(p, "origin"), "must be https://host[:port] or http://host[:port] without a path")
		}
	}
}

func (m *MessageSigning) validate(errs *Errors, p string) {
	if m.KeyFile == "" {
		errs.Add(Join(p, "key_file"), "is required when a route signs (signatures.sign_upstream or sign_responses)")
	}
	if m.KeyID == "" || !printableASCII(m.KeyID) || len(m.KeyID) > 256 {
		errs.Add(Join(p, "key_id"), "must be 1 to 256 printable ASCII characters")
	}
	if !validLabel(m.Label) {
		errs.Add(Join(p, "label"), "must be a lowercase Structured Field key (a-z, 0-9, _ - . *)")
	}
	validComponents(errs, Join(p, "request_components"), m.RequestComponents, false)
	validComponents(errs, Join(p, "response_components"), m.ResponseComponents, true)
	if m.MaxResponseBytes < 0 || m.MaxResponseBytes > 1<<30 {
		errs.Add(Join(p, "max_response_bytes"), "must be between 0 and 1GiB")
	}
	if d := m.TTL.D(); d < 0 || d > 24*time.Hour {
		errs.Add(Join(p, "ttl"), "must be between 0s and 24h")
	}
}

// validComponents checks component identifiers; response lists may name
// @status, request lists may not.
func validComponents(errs *Errors, p string, comps []string, response bool) {
	if len(comps) == 0 {
		errs.Add(p, "must name at least one component")
	}
	for j, s := range comps {
		cp := Index(p, j)
		c, err := httpsig.ParseComponent(s)
		switch {
		case err != nil:
			errs.Add(cp, "%v", strings.TrimPrefix(err.Error(), "httpsig: "))
		case c.Name == httpsig.CompStatus && !response:
			errs.Add(cp, "@status only exists in responses")
		case response && (c.Req || c.Derived() && c.Name != httpsig.CompStatus):
			errs.Add(cp, "a response signature covers the response only: @status and response fields, without ;req")
		}
	}
}

// SplitOrigin splits "https://host[:port]" into its scheme and authority.
func SplitOrigin(s string) (scheme, authority string, ok bool) {
	scheme, authority, ok = strings.Cut(s, "://")
	if !ok || (scheme != "https" && scheme != "http") || authority == "" || strings.ContainsAny(authority, "/?#@ ") {
		return "", "", false
	}
	return scheme, authority, true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func validLabel(s string) bool {
	if s == "" || len(s) > 64 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] == '*') {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*') {
			return false
		}
	}
	return true
}
