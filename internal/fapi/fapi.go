// Package fapi owns what a route under the FAPI 2.0 Security Profile
// (route profile: fapi2) checks on every request besides the token: that
// the request came over a connection meeting the profile's TLS rules, on a
// listener with tls.profile fapi2 (checked per request, not per listener:
// HTTP/2 lets a client reuse one connection for several hosts), and the
// x-fapi-interaction-id every response carries, errors included: the
// client's, echoed, or a fresh UUID.
//
// The token rules of the profile (sender-constrained tokens only, PS256,
// ES256 and EdDSA only, the token in the Authorization header only, at
// most 10 s of clock skew) are enforced where tokens are read and verified
// (packages sender, jwt, introspect) and at load (package config).
package fapi

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/tlsconf"
)

// InteractionHeader correlates a client's request with the resource
// server's response (FAPI 2.0; canonical form).
const InteractionHeader = "X-Fapi-Interaction-Id"

// Profile is the listener tls.profile a FAPI route must be reached on.
const Profile = "fapi2"

// Stage enforces a FAPI 2.0 route's transport rules and interaction id.
type Stage struct{}

var (
	_ pipeline.Stage         = (*Stage)(nil)
	_ pipeline.ResponseStage = (*Stage)(nil)
)

// New returns the stage of a route under profile fapi2.
func New() *Stage { return &Stage{} }

// Name implements pipeline.Stage.
func (*Stage) Name() string { return "fapi2" }

// Phase implements pipeline.Stage: first, so that every later refusal
// carries the interaction id and no stage spends anything on a request
// over the wrong connection.
func (*Stage) Phase() pipeline.Phase { return pipeline.Admit }

// Handle implements pipeline.Stage.
func (s *Stage) Handle(next pipeline.Handler) pipeline.Handler {
	return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id, err := interactionID(r)
		w.Header()[InteractionHeader] = []string{id}
		if err != nil {
			return err
		}
		if reqinfo.From(r.Context()).TLSProfile != Profile || !tlsconf.FAPI2Connection(r.TLS) {
			return problem.New(http.StatusForbidden, "tls-profile-required", "Forbidden",
				"This route is served only over a connection under the FAPI 2.0 TLS profile.").
				WithCause(errWrongConnection)
		}
		return next.ServeHTTP(w, r)
	})
}

// ResponsePhase implements pipeline.ResponseStage.
func (*Stage) ResponsePhase() pipeline.ResponsePhase { return pipeline.CheckResponse }

// OnResponse implements pipeline.ResponseStage: the upstream's copy of the
// interaction id is dropped, so the client gets the one it sent (or was
// given) exactly once.
func (*Stage) OnResponse(resp *http.Response, _ *http.Request) error {
	delete(resp.Header, InteractionHeader)
	return nil
}

type wrongConnection struct{}

func (wrongConnection) Error() string {
	return "request to a fapi2 route over a connection without the FAPI 2.0 TLS profile"
}

var errWrongConnection error = wrongConnection{}

// interactionID returns the request's interaction id: the one it sent
// (a UUID, RFC 9562 text form), or a new one, which the upstream is then
// sent too. A malformed or repeated header gets a new id and a 400: a
// value echoed into responses and logs must not be the client's free text.
func interactionID(r *http.Request) (string, error) {
	vals := r.Header[InteractionHeader]
	if len(vals) == 1 && ValidUUID(vals[0]) {
		return vals[0], nil
	}
	id := NewUUID()
	if len(vals) == 0 {
		r.Header[InteractionHeader] = []string{id}
		return id, nil
	}
	return id, problem.BadRequest("invalid-interaction-id",
		"The x-fapi-interaction-id header must be one UUID.")
}

// NewUUID returns a random (version 4) UUID in lower-case text form.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// ValidUUID reports whether s is a UUID in text form: 8-4-4-4-12
// hexadecimal digits, either case.
func ValidUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
