package httpsig

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/dunglas/httpsfv"
)

// SignerConfig configures a Signer.
type SignerConfig struct {
	Key SigningKey
	// Label of the signature. Default "sig1".
	Label string
	// Components to cover, in order, as component identifiers
	// (`"@method"`, `"content-digest"`, `"@query-param";name="id"`).
	Components []string
	// TTL, when positive, adds expires = created + TTL.
	TTL time.Duration
	// Nonce adds a fresh random nonce to every signature.
	Nonce bool
	// Tag, when set, is added as the tag parameter.
	Tag string
	// IncludeAlg adds the alg parameter.
	IncludeAlg bool
	// FieldTypes adds Structured Field types for sf and key.
	FieldTypes FieldTypes
	// Now is the clock (default time.Now); Rand the randomness for nonces
	// and randomised signatures (default crypto/rand).
	Now  func() time.Time
	Rand io.Reader
}

// Signer signs requests or responses with one key and one set of
// components, compiled once. It is safe for concurrent use if its key's
// crypto.Signer is (the standard library's keys are).
type Signer struct {
	c     SignerConfig
	comps []Component
}

// NewSigner checks and compiles a signer configuration.
func NewSigner(c SignerConfig) (*Signer, error) {
	if err := c.Key.validate(); err != nil {
		return nil, err
	}
	if c.Label == "" {
		c.Label = "sig1"
	}
	if !isSFKey(c.Label) {
		return nil, fmt.Errorf("httpsig: signer: label must be a Structured Field key")
	}
	if c.TTL < 0 {
		return nil, fmt.Errorf("httpsig: signer: TTL must not be negative")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	comps, err := parseComponents(c.Components)
	if err != nil {
		return nil, fmt.Errorf("httpsig: signer: components: %w", err)
	}
	return &Signer{c: c, comps: comps}, nil
}

// Signed is a signature ready to attach: the Signature-Input and Signature
// dictionary members for its label.
type Signed struct {
	Label string
	// Input is the Signature-Input member, e.g. `sig1=("@method");created=1`.
	Input string
	// Signature is the Signature member, e.g. `sig1=:base64:`.
	Signature string
}

// Sign signs m with created = now and the configured parameters.
func (s *Signer) Sign(m Message) (Signed, error) {
	p := Params{Created: s.c.Now().Truncate(time.Second), Tag: s.c.Tag, KeyID: s.c.Key.KeyID}
	if s.c.TTL > 0 {
		p.Expires = p.Created.Add(s.c.TTL)
	}
	if s.c.IncludeAlg {
		p.Alg = s.c.Key.Alg
	}
	if s.c.Nonce {
		n, err := newNonce(s.c.Rand)
		if err != nil {
			return Signed{}, err
		}
		p.Nonce = n
	}
	return s.SignWith(m, p)
}

// SignWith signs m with exactly the parameters p (zero fields are left
// out), serialised in the order created, expires, keyid, alg, nonce, tag.
func (s *Signer) SignWith(m Message, p Params) (Signed, error) {
	if p.Alg != "" && p.Alg != s.c.Key.Alg {
		return Signed{}, newErr(ErrAlgorithm, "", "alg does not match the signing key")
	}
	params, err := serializeParams(s.comps, p)
	if err != nil {
		return Signed{}, err
	}
	base, err := buildBase(m, s.comps, params, s.c.FieldTypes)
	if err != nil {
		return Signed{}, err
	}
	sig, err := s.c.Key.sign(s.c.Rand, base)
	if err != nil {
		return Signed{}, fmt.Errorf("httpsig: signing: %w", err)
	}
	return Signed{
		Label:     s.c.Label,
		Input:     s.c.Label + "=" + params,
		Signature: s.c.Label + "=:" + base64.StdEncoding.EncodeToString(sig) + ":",
	}, nil
}

func serializeParams(comps []Component, p Params) (string, error) {
	il := httpsfv.InnerList{Params: httpsfv.NewParams()}
	for _, c := range comps {
		il.Items = append(il.Items, c.item)
	}
	if !p.Created.IsZero() {
		il.Params.Add("created", p.Created.Unix())
	}
	if !p.Expires.IsZero() {
		il.Params.Add("expires", p.Expires.Unix())
	}
	for _, sp := range []struct{ name, v string }{
		{"keyid", p.KeyID}, {"alg", string(p.Alg)}, {"nonce", p.Nonce}, {"tag", p.Tag},
	} {
		if sp.v != "" {
			il.Params.Add(sp.name, sp.v)
		}
	}
	out, err := httpsfv.Marshal(httpsfv.List{il})
	if err != nil {
		return "", newErr(ErrMalformed, "", "signature parameters must be printable ASCII")
	}
	return out, nil
}

// AddTo appends the signature to h's Signature-Input and Signature fields,
// refusing a label already present (RFC 9421 Section 4 wants labels unique
// across all field lines).
func (s Signed) AddTo(h http.Header) error {
	if len(h.Values("Signature-Input"))+len(h.Values("Signature")) > 0 {
		sigs, err := ParseSignatures(h, Limits{MaxSignatures: 64, MaxFieldBytes: 64 << 10})
		if err != nil {
			return err
		}
		for _, x := range sigs {
			if x.Label == s.Label {
				return newErr(ErrMalformed, sanitize(s.Label), "label already present")
			}
		}
	}
	h.Add("Signature-Input", s.Input)
	h.Add("Signature", s.Signature)
	return nil
}

// NewNonce returns 128 random bits, base64url-encoded.
func NewNonce() (string, error) { return newNonce(rand.Reader) }

func newNonce(r io.Reader) (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("httpsig: nonce: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

func isSFKey(s string) bool {
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
