// Package testissuer owns an in-process OAuth token issuer for tests and
// the demo: signing keys generated at start, a JWKS served over real HTTPS
// (certificate from a pki CA), key rotation, and signing of arbitrary
// claims and headers, including deliberately malicious tokens (alg none,
// HMAC keyed with the public key, embedded jwk headers, raw payloads). It
// is never used to verify anything.
package testissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/pki"
)

// Issuer is a running token issuer.
type Issuer struct {
	// CA signed the JWKS server's certificate; trust it to fetch the JWKS.
	CA *pki.CA

	srv     *http.Server
	ln      net.Listener
	base    string
	fetches atomic.Int64
	status  atomic.Int32 // forced JWKS status (0: serve normally)

	mu        sync.Mutex
	keys      map[string]*signingKey
	published []string // kids in the JWKS, in order
	current   string
	seq       int
}

type signingKey struct {
	kid string
	alg jose.SignatureAlgorithm
	key crypto.Signer
}

// Options configure an Issuer.
type Options struct {
	// CA signs the server certificate. Default: a new CA.
	CA *pki.CA
	// Addr to listen on. Default 127.0.0.1:0.
	Addr string
}

// New generates an RS256 key (the current key), an ES256 and an EdDSA key,
// and starts serving GET /jwks.json over HTTPS.
func New(o Options) (*Issuer, error) {
	if o.CA == nil {
		ca, err := pki.NewCA("Portcullis Test Issuer CA", 24*time.Hour)
		if err != nil {
			return nil, err
		}
		o.CA = ca
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	leaf, err := o.CA.Issue(pki.LeafOptions{CommonName: "test-issuer", Hosts: []string{"127.0.0.1", "localhost", "::1"}})
	if err != nil {
		return nil, err
	}
	is := &Issuer{CA: o.CA, keys: map[string]*signingKey{}}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		if _, err := is.AddKey(string(alg)); err != nil {
			return nil, err
		}
	}
	is.current = is.published[0]
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, err
	}
	is.ln = ln
	is.base = "https://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", is.serveJWKS)
	is.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	is.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, MinVersion: tls.VersionTLS12}
	go func() { _ = is.srv.ServeTLS(ln, "", "") }()
	return is, nil
}

// Close stops the server.
func (is *Issuer) Close() error { return is.srv.Close() }

// URL is the issuer identifier (the "iss" of its tokens).
func (is *Issuer) URL() string { return is.base }

// JWKSURL is where the JWKS is served.
func (is *Issuer) JWKSURL() string { return is.base + "/jwks.json" }

// Fetches counts JWKS requests served.
func (is *Issuer) Fetches() int64 { return is.fetches.Load() }

// FailJWKS makes the JWKS endpoint answer with status (0 restores it).
func (is *Issuer) FailJWKS(status int) { is.status.Store(int32(status)) }

// AddKey generates and publishes a key for alg (RS256, PS256, ES256,
// ES384, EdDSA, or "RS1024" for a deliberately weak 1024-bit RS256 key) and
// returns its kid. It does not change the current key.
func (is *Issuer) AddKey(alg string) (string, error) {
	var (
		k   crypto.Signer
		err error
		ja  = jose.SignatureAlgorithm(alg)
	)
	switch alg {
	case "RS256", "PS256":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "RS1024":
		k, err = rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // deliberately weak, for rejection tests
		ja = jose.RS256
	case "ES256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "EdDSA":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		return "", fmt.Errorf("testissuer: unsupported alg %q", alg)
	}
	if err != nil {
		return "", err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.seq++
	kid := "key-" + strconv.Itoa(is.seq) + "-" + alg
	is.keys[kid] = &signingKey{kid: kid, alg: ja, key: k}
	is.published = append(is.published, kid)
	return kid, nil
}

// Rotate publishes a new RS256 key and makes it the current signing key;
// the old key stays published until Retire. It returns the new kid.
func (is *Issuer) Rotate() (string, error) {
	kid, err := is.AddKey("RS256")
	if err != nil {
		return "", err
	}
	is.mu.Lock()
	is.current = kid
	is.mu.Unlock()
	return kid, nil
}

// Retire removes kid from the JWKS (tokens signed with it stop verifying
// once verifiers refresh).
func (is *Issuer) Retire(kid string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	for i, k := range is.published {
		if k == kid {
			is.published = append(is.published[:i], is.published[i+1:]...)
			return
		}
	}
}

// Current returns the current signing kid.
func (is *Issuer) Current() string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.current
}

// KidFor returns the first published kid of alg ("" if none).
func (is *Issuer) KidFor(alg string) string {
	is.mu.Lock()
	defer is.mu.Unlock()
	for _, kid := range is.published {
		if string(is.keys[kid].alg) == alg {
			return kid
		}
	}
	return ""
}

// PublicKeyPEM returns the PEM "PUBLIC KEY" of kid.
func (is *Issuer) PublicKeyPEM(kid string) []byte {
	is.mu.Lock()
	k := is.keys[kid]
	is.mu.Unlock()
	der, err := x509.MarshalPKIXPublicKey(k.key.Public())
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// JWKS returns the published key set as JSON.
func (is *Issuer) JWKS() []byte {
	is.mu.Lock()
	defer is.mu.Unlock()
	set := jose.JSONWebKeySet{}
	for _, kid := range is.published {
		k := is.keys[kid]
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.key.Public(), KeyID: kid, Algorithm: string(k.alg), Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	return b
}

func (is *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	is.fetches.Add(1)
	if st := is.status.Load(); st != 0 {
		http.Error(w, "unavailable", int(st))
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(is.JWKS())
}

// Claims returns a typical access token's claims: this issuer, aud,
// sub, scope, iat now, exp now+ttl, a random jti.
func (is *Issuer) Claims(aud, sub, scope string, now time.Time, ttl time.Duration) map[string]any {
	jti := make([]byte, 12)
	_, _ = rand.Read(jti)
	return map[string]any{
		"iss": is.base, "aud": aud, "sub": sub, "scope": scope,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": base64.RawURLEncoding.EncodeToString(jti),
	}
}

// Sign signs claims with the current key.
func (is *Issuer) Sign(claims map[string]any) string {
	return is.SignWith(is.Current(), claims, nil)
}

// SignWith signs claims with key kid, adding extra protected headers.
func (is *Issuer) SignWith(kid string, claims map[string]any, headers map[string]any) string {
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return is.SignPayload(kid, payload, headers)
}

// SignPayload signs raw payload bytes (e.g. JSON with duplicate members)
// with key kid and extra protected headers. A "kid" header of "" omits the
// kid; any other "kid" value replaces it. A nil value omits that header
// (e.g. "typ", which is at+jwt otherwise).
func (is *Issuer) SignPayload(kid string, payload []byte, headers map[string]any) string {
	is.mu.Lock()
	k := is.keys[kid]
	is.mu.Unlock()
	if k == nil {
		panic("testissuer: unknown kid " + kid)
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	signKey := jose.JSONWebKey{Key: k.key, KeyID: kid}
	for h, v := range headers {
		if h == "kid" {
			signKey.KeyID, _ = v.(string)
			continue
		}
		if v == nil {
			delete(opts.ExtraHeaders, jose.HeaderKey(h))
			continue
		}
		opts = opts.WithHeader(jose.HeaderKey(h), v)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: signKey}, opts)
	if err != nil {
		panic(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return out
}

// Unsigned returns header.payload. (an alg "none" token when header says so).
func Unsigned(header map[string]any, payload []byte) string {
	return segment(mustJSON(header)) + "." + segment(payload) + "."
}

// HS256 returns a token MACed with secret: the HMAC/RSA confusion attack
// uses the issuer's public key bytes as the secret.
func HS256(header map[string]any, payload []byte, secret []byte) string {
	input := segment(mustJSON(header)) + "." + segment(payload)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + segment(m.Sum(nil))
}

// SignEmbeddedJWK signs claims with a fresh key of the attacker's and puts
// that key in the token's "jwk" header (CVE-2018-0114 style).
func SignEmbeddedJWK(kid string, claims map[string]any) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("at+jwt")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, opts)
	if err != nil {
		panic(err)
	}
	obj, err := signer.Sign(mustJSON(claims))
	if err != nil {
		panic(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return out
}

func segment(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
