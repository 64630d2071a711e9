package msgsig

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/portcullis/portcullis/internal/authn"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/httpsig"
	"github.com/portcullis/portcullis/internal/httpsig/digest"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// Challenge is the WWW-Authenticate scheme of a missing or refused
// signature. RFC 9421 defines no authentication scheme; "Signature" names
// what is asked for, and Accept-Signature (RFC 9421 Section 5.1) says
// which components and parameters the route requires.
var Challenge = authn.Challenge{Scheme: "Signature", Params: [][2]string{{"realm", "portcullis"}}}

// Verify is the stage that requires a request signed by a key of the
// authenticated consumer. It runs in the Validate phase, with the body
// read, after authentication has said who the caller is: a signature's
// keyid is looked up among that caller's keys only.
type Verify struct {
	route  string
	rt     *Runtime
	v      *httpsig.Verifier
	scheme string // from signatures.verify.origin ("" : the connection's)
	auth   string
	accept string // Accept-Signature of a 401
}

var _ pipeline.BodyConsumer = (*Verify)(nil)

// Verifier returns the route's verification stage, or nil when the route
// verifies no signatures.
func (rt *Runtime) Verifier(rc config.Route) (*Verify, error) {
	if rc.Signatures == nil || rc.Signatures.Verify == nil {
		return nil, nil
	}
	c := rc.Signatures.Verify
	s := &Verify{route: rc.Name, rt: rt}
	algs := make([]httpsig.Algorithm, len(c.Algorithms))
	for i, a := range c.Algorithms {
		algs[i] = httpsig.Algorithm(a)
	}
	// A nonce is remembered for the verifier's whole window: any older
	// signature is refused as expired anyway.
	var window time.Duration
	v, err := httpsig.NewVerifier(httpsig.Policy{
		RequiredComponents: c.Components, MaxAge: c.MaxAge.D(), ClockSkew: c.ClockSkew.D(),
		RequireNonce: *c.RequireNonce, Algorithms: algs, Tag: c.Tag, Now: rt.deps.Now,
		Replay: func(ctx context.Context, nonce string) (bool, error) { return rt.seen(ctx, nonce, window) },
	})
	if err != nil {
		return nil, config.FieldError{Path: "signatures.verify", Message: err.Error()}
	}
	window = v.ReplayWindow()
	s.v = v
	if c.Origin != "" {
		s.scheme, s.auth, _ = config.SplitOrigin(c.Origin)
	}
	s.accept = acceptSignature(c)
	return s, nil
}

// acceptSignature renders the Accept-Signature field a 401 carries.
func acceptSignature(c *config.SignatureVerify) string {
	il := httpsfv.InnerList{Params: httpsfv.NewParams()}
	for _, comp := range c.Components {
		if cc, err := httpsig.ParseComponent(comp); err == nil {
			if it, err := httpsfv.UnmarshalItem([]string{cc.String()}); err == nil {
				il.Items = append(il.Items, it)
			}
		}
	}
	il.Params.Add("created", true)
	if *c.RequireNonce {
		il.Params.Add("nonce", true)
	}
	if c.Tag != "" {
		il.Params.Add("tag", c.Tag)
	}
	d := httpsfv.NewDictionary()
	d.Add("sig1", il)
	out, err := httpsfv.Marshal(d)
	if err != nil {
		return ""
	}
	return out
}

// Name implements pipeline.Stage.
func (*Verify) Name() string { return "signature_verify" }

// Phase implements pipeline.Stage.
func (*Verify) Phase() pipeline.Phase { return pipeline.Validate }

// NeedsBody implements pipeline.BodyConsumer: Content-Digest is checked
// against the body received.
func (*Verify) NeedsBody() bool { return true }

// seen is the verifier's nonce hook: a nonce is accepted once per
// consumer (the one in ctx) within window. The verifier calls it only
// after the signature verified, so nobody can burn a client's nonce with a
// forged signature.
func (rt *Runtime) seen(ctx context.Context, nonce string, window time.Duration) (bool, error) {
	p := reqinfo.From(ctx).Principal
	if p == nil {
		return false, errors.New("no authenticated consumer")
	}
	return rt.deps.Nonces.Seen(ctx, nonceKey(p, nonce), window)
}

// Handle implements pipeline.Stage.
func (s *Verify) Handle(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		info := reqinfo.From(r.Context())
		p := info.Principal
		if p == nil {
			return problem.Internal(errors.New("signature verification without an authenticated consumer"))
		}
		// The digest first: it is cheap, and a body that does not match it
		// must not reach the signature check, where an accepted signature
		// would spend the client's nonce.
		if lines := r.Header.Values(digest.Field); len(lines) > 0 {
			if _, err := digest.Verify(lines, info.Body); err != nil {
				return s.refuse(digestCode(err), "The Content-Digest does not match the request body, or uses no sha-256/sha-512 digest.", err)
			}
		}
		scheme, auth := s.scheme, s.auth
		if scheme == "" {
			scheme, auth = "http", r.Host
			if r.TLS != nil {
				scheme = "https"
			}
		}
		msg := httpsig.IncomingRequest(r, scheme, auth)
		who := signerWho(p)
		ctx := r.Context()
		if _, err := s.v.Verify(ctx, msg, func(keyid string) (httpsig.Key, error) {
			return s.rt.deps.Keys.SigningKey(ctx, who, keyid)
		}); err != nil {
			return s.failed(err)
		}
		s.rt.deps.Metrics.SignatureResult(s.route, "verified")
		return next.ServeHTTP(w, r)
	})
}

func digestCode(err error) string {
	if errors.Is(err, digest.ErrMismatch) {
		return "digest_mismatch"
	}
	return "digest_malformed"
}

// failed maps a verification failure to the client's answer: 503 when the
// check could not be made (key store or nonce store down: fail closed, not
// the client's fault), 401 otherwise.
func (s *Verify) failed(err error) error {
	code := httpsig.Code(err)
	switch {
	case errors.Is(err, keys.ErrSigningKeysUnavailable) || errors.Is(err, httpsig.ErrReplayCheck):
		s.rt.deps.Metrics.SignatureResult(s.route, "unavailable")
		return problem.Unavailable("signature-unavailable",
			"The request signature could not be checked right now; retry shortly.", time.Second, err)
	case errors.Is(err, httpsig.ErrNoSignature):
		s.rt.deps.Metrics.SignatureResult(s.route, code)
		pe := problem.New(http.StatusUnauthorized, "signature-missing", "Unauthorized",
			"This operation requires an HTTP message signature (RFC 9421) by one of your registered keys.").WithCause(err)
		pe.Header = http.Header{"Www-Authenticate": {Challenge.String()}}
		if s.accept != "" {
			pe.Header.Set("Accept-Signature", s.accept)
		}
		return pe
	}
	return s.refuse(code, describe(code), err)
}

// refuse is the 401 for a signature (or digest) that was sent and refused.
func (s *Verify) refuse(code, desc string, cause error) error {
	s.rt.deps.Metrics.SignatureResult(s.route, code)
	pe := problem.New(http.StatusUnauthorized, "signature-invalid", "Unauthorized", desc).WithCause(cause)
	pe.Header = http.Header{"Www-Authenticate": {Challenge.String([2]string{"error", code}, [2]string{"error_description", desc})}}
	if s.accept != "" {
		pe.Header.Set("Accept-Signature", s.accept)
	}
	pe.Extensions = map[string]any{"error": code}
	return pe
}

// describe is the client-safe text for a failure code (never the key
// store's or parser's own words).
func describe(code string) string {
	switch code {
	case "expired":
		return "The signature is too old or past its expires time."
	case "not_yet_valid":
		return "The signature's created time is in the future."
	case "replayed":
		return "The signature's nonce was already used; sign every request (and every retry) with a fresh nonce."
	case "unknown_key":
		return "The signature's keyid names no active key of your consumer."
	case "policy":
		return "The signature does not cover what this operation requires (see Accept-Signature), or lacks created or nonce."
	case "missing_component":
		return "A component the signature covers is not in the request."
	case "algorithm":
		return "The signature's algorithm is not accepted here or does not match the key."
	case "malformed", "too_large", "unsupported":
		return "The Signature-Input or Signature field cannot be parsed."
	}
	return "The signature does not verify."
}
