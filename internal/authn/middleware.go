package authn

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// Realm is the realm of every challenge.
const Realm = "portcullis"

// RetryAfter is the Retry-After of a 503 auth-unavailable (the key store
// or an identity provider cannot be reached and the credential is not
// cached): about how long a store outage is noticed and retried in.
const RetryAfter = 5 * time.Second

// Stage is a route's authentication: it tries the route's authenticators
// in order; the first that does not answer "not applicable" decides. On
// success the Principal is on reqinfo (the forwarder sends it upstream
// through Outbound); otherwise the request ends with 401 (every
// authenticator's challenge, RFC 6750 error codes) or 503. A request with
// two Authorization headers, or two of an API-key header, is refused with
// invalid_request before any authenticator runs. Every outcome is told to
// the route's observers (the brute-force defence) as a typed signal.
type Stage struct {
	auths      []Authenticator
	observers  []pipeline.AuthObserver
	challenges []string
	single     []singleHeader
}

var _ pipeline.Stage = (*Stage)(nil)

// NewStage builds the authentication stage of a route.
func NewStage(auths []Authenticator, observers []pipeline.AuthObserver) *Stage {
	s := &Stage{auths: auths, observers: observers, single: singleHeaders(auths)}
	for _, a := range auths {
		if c, ok := a.(Challenger); ok {
			for _, ch := range c.Challenges() {
				s.challenges = append(s.challenges, ch.String())
			}
			continue
		}
		s.challenges = append(s.challenges, a.Challenge().String())
	}
	return s
}

// Name implements pipeline.Stage.
func (s *Stage) Name() string { return "authenticate" }

// ReportsRefusals implements secevent.Reporter: the security stage reports
// authentication failures as AuthFailure through its AuthObserver role.
func (s *Stage) ReportsRefusals() {}

// Phase implements pipeline.Stage.
func (s *Stage) Phase() pipeline.Phase { return pipeline.Authenticate }

// Handle implements pipeline.Stage.
func (s *Stage) Handle(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.authenticate(r); err != nil {
			return err
		}
		return next.ServeHTTP(w, r)
	})
}

// authenticate decides the request's caller and tells the observers.
func (s *Stage) authenticate(r *http.Request) error {
	err := s.verify(r)
	switch {
	case err == nil:
		for _, o := range s.observers {
			if oerr := o.Authenticated(r.Context()); oerr != nil {
				return oerr
			}
		}
	case isUnauthorized(err):
		for _, o := range s.observers {
			if oerr := o.AuthFailed(r.Context()); oerr != nil {
				return oerr
			}
		}
	}
	return err
}

// isUnauthorized reports whether err is a 401 (kept out of authenticate:
// the status coder it needs would be allocated on every request).
func isUnauthorized(err error) bool {
	var sc problem.StatusCoder
	return errors.As(err, &sc) && sc.StatusCode() == http.StatusUnauthorized
}

func (s *Stage) verify(r *http.Request) error {
	info := reqinfo.From(r.Context())
	for _, h := range s.single {
		if len(r.Header[h.name]) > 1 {
			info.AuthFailure = "several " + h.name + " headers"
			return Unauthorized(h.challenge, &Unauthenticated{Reason: info.AuthFailure, Code: "invalid_request",
				Description: h.description})
		}
	}
	for _, a := range s.auths {
		p, err := a.Authenticate(r)
		switch {
		case err == nil:
			if p.Authenticator == "" {
				p.Authenticator = a.Name()
			}
			info.Principal = p
			return nil
		case errors.Is(err, ErrNotApplicable):
			continue
		}
		var ue *Unauthenticated
		if errors.As(err, &ue) {
			info.AuthFailure = a.Name() + ": " + ue.Reason
			return Unauthorized(a.Challenge(), ue)
		}
		return problem.Unavailable("auth-unavailable",
			"The gateway cannot verify credentials right now.", RetryAfter, err)
	}
	info.AuthFailure = "no credential"
	pe := problem.New(http.StatusUnauthorized, "unauthenticated", "Unauthorized",
		"This route requires authentication.")
	pe.Header = http.Header{"Www-Authenticate": s.challenges}
	return pe
}

// singleHeader is a credential header a request may carry once only, and
// the challenge that answers a duplicate.
type singleHeader struct {
	name        string
	challenge   Challenge
	description string
}

// singleHeaders lists Authorization and every API-key header of auths.
// Two copies are refused rather than choosing one: the gateway and the
// upstream could choose differently.
func singleHeaders(auths []Authenticator) []singleHeader {
	var out []singleHeader
	if len(auths) > 0 {
		c := auths[0].Challenge()
		for _, a := range auths {
			if _, ok := a.(BearerAuthenticator); ok {
				c = a.Challenge()
				break
			}
		}
		out = append(out, singleHeader{"Authorization", c, "Send exactly one Authorization header."})
	}
	for _, a := range auths {
		if c, ok := a.(CredentialCarrier); ok && c.CredentialHeader() != "Authorization" {
			out = append(out, singleHeader{c.CredentialHeader(), a.Challenge(), "Send exactly one API key."})
		}
	}
	return out
}

// Unauthorized is the 401 problem for a rejected credential: challenge c
// (or the one ue carries) with ue's error code and description, and ue's
// extra headers.
func Unauthorized(c Challenge, ue *Unauthenticated) *problem.Error {
	if ue.Challenge != nil {
		c = *ue.Challenge
	}
	code := ue.Code
	if code == "" {
		code = "invalid_token"
	}
	desc := ue.Description
	if desc == "" {
		desc = "The credential is invalid."
	}
	typ := "invalid-credential"
	if code == "invalid_request" {
		typ = "invalid-auth-request"
	}
	pe := problem.New(http.StatusUnauthorized, typ, "Unauthorized", desc)
	pe.Header = http.Header{"Www-Authenticate": {c.String([2]string{"error", code}, [2]string{"error_description", desc})}}
	for k, vs := range ue.Header {
		pe.Header[http.CanonicalHeaderKey(k)] = vs
	}
	return pe
}

// sanitize drops bytes that are not allowed in a header value, so claim
// values cannot smuggle extra headers.
func sanitize(v string) string {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return strings.Map(func(r rune) rune {
				if r < 0x20 && r != '\t' || r == 0x7f {
					return -1
				}
				return r
			}, v)
		}
	}
	return v
}
