// Package sender owns sender-constrained access tokens at the resource
// server, for the bearer-token authenticators (jwt, introspection): how a
// request presents its token ("Authorization: Bearer", or "Authorization:
// DPoP" with a DPoP proof), what the token is bound to (its cnf claim),
// and the binding check every verified token gets on every request, token
// cache hits included:
//
//   - a token bound to a key (cnf.jkt) passes only with the DPoP scheme
//     and a valid proof signed by that key; sent as Bearer it is refused,
//     on every route (RFC 9449 §7.2);
//   - a token bound to a certificate (cnf.x5t#S256) passes only with that
//     client certificate: the TLS connection's, or, for a request from a
//     trusted proxy when client_cert_header is set, the one the proxy
//     forwarded (RFC 8705 §3);
//   - on a route under the FAPI 2.0 profile an unbound token is refused.
//
// Proofs are verified by package dpop and certificates matched by package
// certbind; this package decides which applies and gives each refusal the
// challenge of the scheme the client used.
package sender

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/authn/certbind"
	"github.com/portcullis/portcullis/internal/authn/claims"
	"github.com/portcullis/portcullis/internal/authn/dpop"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/sharedstate"
)

// Scheme is how a request presented its access token.
type Scheme uint8

const (
	// Bearer is "Authorization: Bearer" (or a route's query or cookie).
	Bearer Scheme = iota + 1
	// DPoP is "Authorization: DPoP" with a DPoP proof header.
	DPoP
)

// Options are what a Policy is built from.
type Options struct {
	// DPoP is the authenticator's dpop block; nil: the DPoP scheme is not
	// this authenticator's kind.
	DPoP *config.DPoPAuth
	// Replay remembers proof jti values; required with DPoP. Share it
	// between instances (Redis) or a proof replayed to another instance
	// passes.
	Replay sharedstate.Store
	// CertHeader is client_cert_header; nil: TLS client certificates only.
	CertHeader *config.ClientCertHeader
	// Env resolves nonce secrets from the environment. Nil: os.LookupEnv.
	Env config.LookupEnv
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

// Policy is one authenticator's handling of sender-constrained tokens. It
// is immutable; ForFAPI2 derives a route's stricter copy.
type Policy struct {
	opts     Options
	verifier *dpop.Verifier // nil: DPoP not accepted
	// probe verifies proofs whose key is not the token's without
	// recording their jti (see checkProof).
	probe    *dpop.Verifier
	dpopOnly bool // dpop.required: Bearer is not this authenticator's kind
	// bound refuses unbound tokens (FAPI 2.0).
	bound      bool
	maxProof   int
	challenge  authn.Challenge // the DPoP challenge, with algs
	certHeader string
	certFormat certbind.Format
}

// Plain is the policy of an authenticator without DPoP: unbound bearer
// tokens pass, bound ones only as their binding says (a DPoP-bound one
// never: it has no proof).
var Plain = &Policy{}

// New builds a policy. Errors are config errors relative to the dpop block
// (nonce secrets that cannot be read).
func New(o Options) (*Policy, error) {
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	p := &Policy{opts: o}
	if h := o.CertHeader; h != nil {
		p.certHeader, p.certFormat = http.CanonicalHeaderKey(h.Name), certbind.EscapedPEM
		if h.Format == "xfcc" {
			p.certFormat = certbind.XFCC
		}
	}
	if o.DPoP == nil {
		return p, nil
	}
	p.dpopOnly = o.DPoP.Required
	p.maxProof = int(o.DPoP.MaxProofBytes)
	if err := p.buildVerifier(o.DPoP.Algorithms); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Policy) buildVerifier(algs []string) error {
	d := p.opts.DPoP
	var nonces *dpop.Nonces
	if n := d.Nonce; n != nil {
		var errs config.Errors
		secrets := make([][]byte, 0, len(n.Secrets))
		for i, ref := range n.Secrets {
			v, err := ref.Read(p.opts.Env)
			if err != nil {
				var fe config.FieldError
				if errors.As(err, &fe) {
					errs.Add(config.Join(config.Index("nonce.secrets", i), fe.Path), "%s", fe.Message)
				}
				continue
			}
			if len(v) < dpop.MinNonceSecretBytes {
				errs.Add(config.Index("nonce.secrets", i), "the secret is %d bytes, at least %d are needed (openssl rand -base64 48)", len(v), dpop.MinNonceSecretBytes)
				continue
			}
			secrets = append(secrets, []byte(v))
		}
		if len(errs) > 0 {
			return errs
		}
		var err error
		if nonces, err = dpop.NewNonces(dpop.NonceOptions{Secrets: secrets, Period: n.Period.D(), Now: p.opts.Now}); err != nil {
			return config.FieldError{Path: "nonce", Message: err.Error()}
		}
	}
	return p.buildVerifierWith(algs, nonces)
}

// ForFAPI2 returns the policy of a route under profile fapi2: unbound
// tokens refused, proofs only with PS256, ES256 or EdDSA.
func (p *Policy) ForFAPI2() (*Policy, error) {
	cp := *p
	cp.bound = true
	if p.verifier != nil {
		algs := config.FAPI2Allowed(p.opts.DPoP.Algorithms)
		if len(algs) == 0 {
			return nil, config.FieldError{Path: "algorithms", Message: "none of them is allowed by profile fapi2"}
		}
		// The nonces and the replay store stay shared: a nonce or jti is
		// the same wherever it is checked.
		if err := cp.buildVerifierWith(algs, p.verifier.Nonces()); err != nil {
			return nil, err
		}
	}
	return &cp, nil
}

func (p *Policy) buildVerifierWith(algs []string, nonces *dpop.Nonces) error {
	d := p.opts.DPoP
	if p.opts.Replay == nil {
		return errors.New("sender: DPoP needs a replay store")
	}
	o := dpop.Options{
		Algorithms: algs, MaxAge: d.MaxAge.D(), MaxFuture: d.MaxFuture.D(), MaxProofBytes: p.maxProof,
		Replay: p.opts.Replay, Nonces: nonces, Now: p.opts.Now,
	}
	v, err := dpop.NewVerifier(o)
	if err != nil {
		return config.FieldError{Path: "algorithms", Message: err.Error()}
	}
	o.Replay = unrecorded{}
	probe, err := dpop.NewVerifier(o)
	if err != nil {
		return config.FieldError{Path: "algorithms", Message: err.Error()}
	}
	p.verifier, p.probe, p.challenge = v, probe, v.Challenge()
	return nil
}

// Challenges are the challenges a request without a credential gets from
// an authenticator with this policy: DPoP (when accepted) and then
// bearer (unless DPoP is required).
func (p *Policy) Challenges(bearer authn.Challenge) []authn.Challenge {
	switch {
	case p.verifier == nil:
		return []authn.Challenge{bearer}
	case p.dpopOnly:
		return []authn.Challenge{p.challenge}
	}
	return []authn.Challenge{p.challenge, bearer}
}

// Token returns the access token r presents and how. A DPoP token is read
// from "Authorization: DPoP" only (RFC 9449 §7.1); a bearer token as
// authn.ExtractBearer reads it. Errors as authn.ExtractBearer; a bearer
// token to a policy that requires DPoP is not applicable (the request
// ends with the DPoP challenge, or another authenticator takes it).
func (p *Policy) Token(r *http.Request, maxLen int, src authn.TokenSources) (string, Scheme, error) {
	if p.verifier != nil {
		tok, err := dpop.AccessToken(r, maxLen)
		switch {
		case err == nil:
			if src.Query && strings.Contains(r.URL.RawQuery, authn.QueryParam) ||
				src.Cookie != "" && len(r.CookiesNamed(src.Cookie)) > 0 {
				return "", 0, &authn.Unauthenticated{Reason: "access token in more than one place", Code: "invalid_request",
					Description: "Send the access token in exactly one place.", Challenge: &p.challenge}
			}
			return tok, DPoP, nil
		case !errors.Is(err, authn.ErrNotApplicable):
			return "", 0, p.Refusal(DPoP, err)
		}
	}
	tok, err := authn.ExtractBearer(r, maxLen, src)
	if err != nil {
		return "", 0, err
	}
	if p.dpopOnly {
		return "", 0, authn.ErrNotApplicable
	}
	return tok, Bearer, nil
}

// Refusal gives err (an *authn.Unauthenticated about a token sent with
// scheme) the challenge of that scheme: a client that sent a DPoP token
// is answered with the DPoP challenge whichever check failed.
func (p *Policy) Refusal(scheme Scheme, err error) error {
	var ue *authn.Unauthenticated
	if scheme == DPoP && p.verifier != nil && errors.As(err, &ue) && ue.Challenge == nil {
		ue.Challenge = &p.challenge
	}
	return err
}

// Client-facing descriptions.
const (
	descNoProof     = "A DPoP proof is required with a DPoP access token."
	descBoundBearer = "The access token is bound to a key: send it with the DPoP scheme and a proof."
	descUnbound     = "This resource accepts sender-constrained access tokens only (DPoP or certificate-bound)."
	descTarget      = "The DPoP proof is invalid."
)

// Check enforces the binding of pr, the principal tok verified as, for r
// (see the package doc). It returns nil, an *authn.Unauthenticated (401),
// or a technical failure (the replay store is down: 503). On success a
// DPoP principal's Method is dpop and a certificate-bound one carries the
// certificate's thumbprint.
func (p *Policy) Check(r *http.Request, tok string, scheme Scheme, pr *principal.Principal) error {
	cnf := pr.Confirmation
	if cnf != nil && cnf.X5TS256 != "" {
		cert, why := p.clientCert(r)
		if err := certbind.Check(map[string]any{certbind.CnfMember: cnf.X5TS256}, cert); err != nil {
			if why != "" {
				var ue *authn.Unauthenticated
				if errors.As(err, &ue) {
					ue.Reason += " (" + why + ")"
				}
			}
			return p.Refusal(scheme, err)
		}
		pr.CertThumbprint = cert.Thumbprint
	}
	switch scheme {
	case DPoP:
		if err := p.checkProof(r, tok, cnf); err != nil {
			return err
		}
		pr.Method = principal.MethodDPoP
	default:
		switch {
		case cnf != nil && cnf.JKT != "":
			return p.refuse(authn.Reject("DPoP-bound token sent as Bearer", descBoundBearer))
		case p.bound && (cnf == nil || cnf.X5TS256 == ""):
			return p.refuse(authn.Reject("unbound token on a route that needs sender-constrained tokens", descUnbound))
		}
	}
	return nil
}

// refuse answers with the DPoP challenge where DPoP is accepted: it names
// the scheme and algorithms that would work.
func (p *Policy) refuse(ue *authn.Unauthenticated) error {
	if p.verifier != nil {
		ue.Challenge = &p.challenge
	}
	return ue
}

// checkProof verifies r's DPoP proof for tok and binds it to cnf.jkt.
func (p *Policy) checkProof(r *http.Request, tok string, cnf *principal.Confirmation) error {
	uri, err := targetURI(r)
	if err != nil {
		return &authn.Unauthenticated{Code: dpop.CodeInvalidProof, Reason: "target URI: " + err.Error(),
			Description: descTarget, Challenge: &p.challenge}
	}
	var jkt string
	if cnf != nil {
		jkt = cnf.JKT
	}
	// A proof takes room in the replay store only when its key is the
	// token's: one signed with any other key (a stolen token, a token
	// bound to nothing) is checked just as fully, by the probe, but leaves
	// nothing behind, so holding a token is not enough to fill the store.
	v := p.verifier
	if jkt == "" || !proofKeyIs(r, jkt, p.maxProof) {
		v = p.probe
	}
	proof, err := v.VerifyRequest(r, uri, tok)
	if err == nil && v == p.probe && jkt != "" && dpop.Bind(map[string]any{"jkt": jkt}, proof) == nil {
		// The header looked like another key's but the verified one is the
		// token's: its jti must be recorded before the request may pass.
		proof, err = p.verifier.VerifyRequest(r, uri, tok)
	}
	switch {
	case errors.Is(err, dpop.ErrNoProof):
		return &authn.Unauthenticated{Code: dpop.CodeInvalidProof, Reason: "DPoP token without a proof",
			Description: descNoProof, Challenge: &p.challenge}
	case errors.Is(err, dpop.ErrReplayCheck):
		return err
	case err != nil:
		return p.dpopError(err)
	}
	var bound any
	if cnf != nil {
		bound = map[string]any{"jkt": cnf.JKT}
	}
	if err := dpop.Bind(bound, proof); err != nil {
		return p.dpopError(err)
	}
	return nil
}

// dpopError is a *dpop.Error with the DPoP challenge and, for
// use_dpop_nonce, the fresh nonce in DPoP-Nonce.
func (p *Policy) dpopError(err error) error {
	var de *dpop.Error
	if !errors.As(err, &de) {
		return err
	}
	de.Challenge = &p.challenge
	if de.Code == dpop.CodeUseNonce && de.Nonce != "" {
		de.Header = http.Header{dpop.NonceHeader: {de.Nonce}}
	}
	return err
}

// proofKeyIs reports whether the jwk in the header of r's DPoP proof
// (read without verifying anything) has thumbprint jkt.
func proofKeyIs(r *http.Request, jkt string, maxBytes int) bool {
	proof, err := dpop.ProofHeader(r.Header, maxBytes)
	if err != nil {
		return false
	}
	hdr, _, _ := strings.Cut(proof, ".")
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		return false
	}
	var h struct {
		JWK *jose.JSONWebKey `json:"jwk"`
	}
	if json.Unmarshal(raw, &h) != nil || h.JWK == nil {
		return false
	}
	tp, err := dpop.Thumbprint(h.JWK.Public().Key)
	return err == nil && tp == jkt
}

// unrecorded is the probe's replay store: every jti is new, nothing is
// kept. dpop.Verifier calls Seen only; the embedded nil Store is there to
// satisfy the interface, and any other call would panic loudly.
type unrecorded struct{ sharedstate.Store }

func (unrecorded) Seen(context.Context, sharedstate.Key, time.Duration) (bool, error) {
	return true, nil
}

// targetURI is r's target URI as its client saw it (reqinfo Target);
// outside a listener, the connection's scheme, Host and path.
func targetURI(r *http.Request) (string, error) {
	if t := reqinfo.From(r.Context()).Target; t != nil {
		return t(r)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath(), nil
}

// clientCert is the request's client certificate: from a trusted proxy's
// header when client_cert_header is set (the TLS certificate of such a
// connection is the proxy's own), else the TLS connection's. why says, for
// the log, why there is none.
func (p *Policy) clientCert(r *http.Request) (*certbind.ClientCert, string) {
	if p.certHeader != "" && reqinfo.From(r.Context()).TrustedPeer {
		c, err := certbind.FromHeader(r.Header, p.certHeader, p.certFormat)
		if err != nil {
			return nil, "forwarded certificate: " + err.Error()
		}
		return c, ""
	}
	c, err := certbind.FromTLS(r.TLS)
	if err != nil {
		return nil, "no TLS client certificate"
	}
	return c, ""
}

// Confirmation reads a verified token's cnf claim. A token without one is
// unbound (nil). A cnf this gateway cannot check (not an object, another
// confirmation method such as jwk or kid, a value that is not a non-empty
// string) is an error: the token is bound to something, and accepting it
// unbound would undo what its issuer meant.
func Confirmation(set claims.Set) (*principal.Confirmation, error) {
	v, ok := set["cnf"]
	if !ok {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, errors.New("cnf is not a confirmation object")
	}
	c := &principal.Confirmation{}
	for k, val := range m {
		s, isString := val.(string)
		if !isString || s == "" {
			return nil, fmt.Errorf("cnf member %.20q is not a non-empty string", k)
		}
		switch k {
		case "jkt":
			c.JKT = s
		case certbind.CnfMember:
			c.X5TS256 = s
		default:
			return nil, fmt.Errorf("cnf method %.20q is not supported", k)
		}
	}
	return c, nil
}
