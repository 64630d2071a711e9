package authn

import (
	"errors"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// Realm is the realm of every challenge.
const Realm = "portcullis"

// Middleware tries auths in order; the first that does not answer "not
// applicable" decides. On success the Principal is on reqinfo and the
// identity headers are set; otherwise the request ends with 401 (every
// authenticator's challenge, RFC 6750 error codes) or 503.
func Middleware(auths []Authenticator) pipeline.Middleware {
	challenges := make([]string, len(auths))
	for i, a := range auths {
		challenges[i] = a.Challenge().String()
	}
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			info := reqinfo.From(r.Context())
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

// Identity sets the verified identity headers for the upstream. It first
// removes any incoming header with those names, on every route (auth: none
// included), so a client can never forge them.
func Identity(h config.IdentityHeaders) pipeline.Middleware {
	type field struct {
		name  string // canonical, resolved once here
		value func(*principal.Principal) string
	}
	var fields []field
	add := func(name string, value func(*principal.Principal) string) {
		if name != "" {
			fields = append(fields, field{http.CanonicalHeaderKey(name), value})
		}
	}
	add(h.ConsumerID, func(p *principal.Principal) string { return p.ConsumerID })
	add(h.Subject, func(p *principal.Principal) string { return p.Subject })
	add(h.Scopes, func(p *principal.Principal) string { return strings.Join(p.Scopes, " ") })
	add(h.Roles, func(p *principal.Principal) string { return strings.Join(p.Roles, " ") })
	add(h.Method, func(p *principal.Principal) string { return string(p.Method) })
	add(h.CredentialID, func(p *principal.Principal) string { return p.CredentialID })
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			for _, f := range fields {
				delete(r.Header, f.name)
			}
			if p := reqinfo.From(r.Context()).Principal; p != nil {
				for _, f := range fields {
					if v := f.value(p); v != "" {
						r.Header[f.name] = []string{sanitize(v)}
					}
				}
			}
			return next.ServeHTTP(w, r)
		})
	}
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
