package authn

import (
	"errors"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// Realm is the realm of every challenge.
const Realm = "portcullis"

// Middleware tries auths in order; the first that does not answer "not
// applicable" decides. On success the Principal is on reqinfo (the
// forwarder sends it upstream through Outbound); otherwise the request
// ends with 401 (every authenticator's challenge, RFC 6750 error codes) or
// 503. A request with two Authorization headers, or two of an API-key
// header, is refused with invalid_request before any authenticator runs.
func Middleware(auths []Authenticator) pipeline.Middleware {
	challenges := make([]string, len(auths))
	for i, a := range auths {
		challenges[i] = a.Challenge().String()
	}
	single := singleHeaders(auths)
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			info := reqinfo.From(r.Context())
			for _, s := range single {
				if len(r.Header[s.name]) > 1 {
					info.AuthFailure = "several " + s.name + " headers"
					return Unauthorized(s.challenge, &Unauthenticated{Reason: info.AuthFailure, Code: "invalid_request",
						Description: s.description})
				}
			}
			for _, a := range auths {
				p, err := a.Authenticate(r)
				switch {
				case err == nil:
					if p.Authenticator == "" {
						p.Authenticator = a.Name()
					}
					info.Principal = p
					return next.ServeHTTP(w, r)
				case errors.Is(err, ErrNotApplicable):
					continue
				}
				var ue *Unauthenticated
				if errors.As(err, &ue) {
					info.AuthFailure = a.Name() + ": " + ue.Reason
					return Unauthorized(a.Challenge(), ue)
				}
				return problem.Unavailable("auth-unavailable",
					"The gateway cannot verify credentials right now.", err)
			}
			info.AuthFailure = "no credential"
			pe := problem.New(http.StatusUnauthorized, "unauthenticated", "Unauthorized",
				"This route requires authentication.")
			pe.Header = http.Header{"Www-Authenticate": challenges}
			return pe
		})
	}
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

// Unauthorized is the 401 problem for a rejected credential.
func Unauthorized(c Challenge, ue *Unauthenticated) *problem.Error {
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
