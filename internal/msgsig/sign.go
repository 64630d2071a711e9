package msgsig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/httpsig"
	"github.com/portcullis/portcullis/internal/httpsig/digest"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

func (rt *Runtime) signers(components []string) *signers {
	nonce := rt.signing.Nonce != nil && *rt.signing.Nonce
	return &signers{base: httpsig.SignerConfig{Key: *rt.key, Label: rt.signing.Label, Components: components,
		TTL: rt.signing.TTL.D(), Nonce: nonce, Now: rt.deps.Now}}
}

// passthrough is the request-path side of the signing stages: they act
// on the outbound request and on the response only.
type passthrough struct{}

func (passthrough) Phase() pipeline.Phase                         { return pipeline.Forward }
func (passthrough) Handle(next pipeline.Handler) pipeline.Handler { return next }

// UpstreamSigner signs the request sent to the upstream with the gateway's
// key, so the backend can verify that the gateway vouched for it: after
// the forwarder's final rewrite (identity and forwarding headers set, the
// target's authority and path in place), once per attempt. It sets
// Content-Digest over the body actually forwarded, and removes the
// client's own Signature fields (the gateway verified them; the upstream
// gets the gateway's word).
type UpstreamSigner struct {
	passthrough
	route string
	rt    *Runtime
	comps []string
	s     *signers
}

var (
	_ pipeline.OutboundStage = (*UpstreamSigner)(nil)
	_ pipeline.BodyConsumer  = (*UpstreamSigner)(nil)
)

// UpstreamSigner returns the route's upstream signing stage, or nil.
func (rt *Runtime) UpstreamSigner(rc config.Route) *UpstreamSigner {
	if rc.Signatures == nil || !rc.Signatures.SignUpstream || rt.key == nil {
		return nil
	}
	comps := append(append([]string(nil), rt.signing.RequestComponents...), rt.identity...)
	return &UpstreamSigner{route: rc.Name, rt: rt, comps: comps, s: rt.signers(nil)}
}

// Name implements pipeline.Stage.
func (*UpstreamSigner) Name() string { return "sign_upstream" }

// NeedsBody implements pipeline.BodyConsumer: the digest is over the body
// forwarded.
func (*UpstreamSigner) NeedsBody() bool { return true }

// OnOutbound implements pipeline.OutboundStage.
func (u *UpstreamSigner) OnOutbound(out *http.Request) error {
	h := out.Header
	h.Del("Signature")
	h.Del("Signature-Input")
	info := reqinfo.From(out.Context())
	d, err := digest.Compute(info.Body, digest.SHA256)
	if err != nil {
		return err
	}
	h.Set(digest.Field, d)
	sg, err := u.s.get(present(u.comps, h))
	if err != nil {
		return err
	}
	signed, err := sg.Sign(httpsig.OutgoingRequest(out))
	if err != nil {
		return err
	}
	if err := signed.AddTo(h); err != nil {
		return err
	}
	u.rt.deps.Metrics.MessageSigned(u.route, "upstream")
	return nil
}

// ResponseSigner signs what the client receives with the gateway's key:
// last of the response stages, over the response as sent (a replay
// included), with Content-Digest over its body. A body larger than
// message_signing.max_response_bytes is refused with 502 rather than sent
// unsigned.
type ResponseSigner struct {
	passthrough
	route string
	rt    *Runtime
	s     *signers
	max   int64
}

var _ pipeline.ResponseStage = (*ResponseSigner)(nil)

// ResponseSigner returns the route's response signing stage, or nil.
func (rt *Runtime) ResponseSigner(rc config.Route) *ResponseSigner {
	if rc.Signatures == nil || !rc.Signatures.SignResponses || rt.key == nil {
		return nil
	}
	return &ResponseSigner{route: rc.Name, rt: rt, s: rt.signers(nil), max: int64(rt.signing.MaxResponseBytes)}
}

// Name implements pipeline.Stage.
func (*ResponseSigner) Name() string { return "sign_response" }

// ResponsePhase implements pipeline.ResponseStage.
func (*ResponseSigner) ResponsePhase() pipeline.ResponsePhase { return pipeline.SignResponse }

var errUnsignable = errors.New("response body larger than message_signing.max_response_bytes")

// OnResponse implements pipeline.ResponseStage.
func (s *ResponseSigner) OnResponse(resp *http.Response, _ *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.max+1))
	if err != nil {
		return err
	}
	if int64(len(body)) > s.max {
		return problem.New(http.StatusBadGateway, "response-not-signable", "Bad Gateway",
			"The upstream's answer is larger than the gateway signs; it was not sent unsigned.").WithCause(errUnsignable)
	}
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	h := resp.Header
	h.Del("Signature")
	h.Del("Signature-Input")
	d, err := digest.Compute(body, digest.SHA256)
	if err != nil {
		return err
	}
	h.Set(digest.Field, d)
	sg, err := s.s.get(present(s.rt.signing.ResponseComponents, h))
	if err != nil {
		return err
	}
	// Response components never take ;req (config refuses it): the
	// signature covers the response as sent, on its own.
	signed, err := sg.Sign(&httpsig.Response{Status: resp.StatusCode, Header: h})
	if err != nil {
		return fmt.Errorf("signing the response: %w", err)
	}
	if err := signed.AddTo(h); err != nil {
		return err
	}
	s.rt.deps.Metrics.MessageSigned(s.route, "response")
	return nil
}
