package idempotency

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/problem"
	"github.com/portcullis/portcullis/internal/proxy"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/sharedstate"
)

// Enforce is the second idempotency stage, last before the forwarder (so a
// request refused by validation never takes the key). With the body read
// it computes the request's fingerprint and
//   - replays the completed answer Lookup found when the fingerprint
//     matches (422 when it does not), without calling the upstream;
//   - otherwise reserves the key (in flight, owned by this request) and
//     forwards; the response is captured in the CaptureResponse phase and
//     the key completed with it.
//
// When the exchange fails, the key is released only if the request
// provably never reached the upstream (proxy.NeverSent: no target, a
// connect failure); after a timeout, a reset, a 5xx or an answer too large
// to store it stays in doubt until its TTL or an operator resolves it.
type Enforce struct {
	r *route
	// after are the response stages that follow CaptureResponse (signing),
	// run on replays too.
	after []pipeline.ResponseStage
}

var (
	_ pipeline.BodyConsumer = (*Enforce)(nil)
	_ pipeline.Replayer     = (*Enforce)(nil)
)

// Name implements pipeline.Stage.
func (*Enforce) Name() string { return "idempotency" }

// Phase implements pipeline.Stage.
func (*Enforce) Phase() pipeline.Phase { return pipeline.Forward }

// NeedsBody implements pipeline.BodyConsumer: the body is part of the
// fingerprint.
func (*Enforce) NeedsBody() bool { return true }

// ResponsePhase implements pipeline.ResponseStage.
func (*Enforce) ResponsePhase() pipeline.ResponsePhase { return pipeline.CaptureResponse }

// ReplayThrough implements pipeline.Replayer.
func (e *Enforce) ReplayThrough(later []pipeline.ResponseStage) { e.after = later }

// Handle implements pipeline.Stage.
func (e *Enforce) Handle(next pipeline.Handler) pipeline.Handler {
	r := e.r
	return pipeline.HandlerFunc(func(w http.ResponseWriter, req *http.Request) (err error) {
		a := attemptFrom(req.Context())
		if a == nil {
			return next.ServeHTTP(w, req)
		}
		info := reqinfo.From(req.Context())
		fp := r.fingerprint(req, info)
		if a.done != nil {
			if err := r.refuseEntry(*a.done, &fp); err != nil {
				return err
			}
			return e.replay(w, req, a.done.Value)
		}
		owner := sharedstate.NewOwner()
		m := meta{fp: fp, leaseUntil: r.g.now().Add(r.lease), owner: owner}
		cur, reserved, err := r.g.store.Reserve(req.Context(), a.key, owner, encodeMeta(m), r.ttl)
		if err != nil {
			return r.storeError(err)
		}
		if !reserved {
			// Another request took the key since Lookup looked.
			if err := r.refuseEntry(cur, &fp); err != nil {
				return err
			}
			return e.replay(w, req, cur.Value)
		}
		a.owner = owner
		defer func() {
			if a.settled {
				return
			}
			if p := recover(); p != nil {
				e.settle(req, a, nil, ReasonUnknown)
				panic(p)
			}
			e.settle(req, a, err, "")
		}()
		r.outcome("forwarded")
		return next.ServeHTTP(w, req)
	})
}

// settle records the outcome of an exchange the response stage did not
// complete: released when the request provably never left, in doubt
// otherwise.
func (e *Enforce) settle(req *http.Request, a *attempt, err error, reason string) {
	r := e.r
	a.settled = true
	ctx, cancel := storeCtx(req.Context())
	defer cancel()
	if err != nil && proxy.NeverSent(err) {
		if serr := r.g.store.Release(ctx, a.key, a.owner); serr != nil {
			r.recordFailed("release", serr)
			return
		}
		r.outcome("released")
		return
	}
	if reason == "" {
		reason = doubtReason(err)
	}
	if serr := r.g.store.Complete(ctx, a.key, a.owner, sharedstate.InDoubt, encodeDoubt(reason), r.ttl); serr != nil {
		r.recordFailed("keep in doubt", serr)
		return
	}
	r.outcome("kept_in_doubt")
}

// recordFailed logs a result that could not be written. The key then stays
// in flight until its lease passes and is reported in doubt after that:
// still never forwarded twice.
func (r *route) recordFailed(what string, err error) {
	r.outcome("store_error")
	r.g.log.Error("idempotency: could not record the outcome; the key stays in flight, then in doubt", "route", r.name,
		"action", what, "error", err.Error())
}

func doubtReason(err error) string {
	if err == nil {
		return ReasonUnknown
	}
	var sc problem.StatusCoder
	if errors.As(err, &sc) {
		switch sc.StatusCode() {
		case http.StatusGatewayTimeout:
			return ReasonTimeout
		case 499:
			return ReasonClientGone
		}
	}
	return ReasonUpstreamError
}

// OnResponse implements pipeline.ResponseStage: it keeps the upstream's
// answer for replays. A 5xx, or an answer larger than the route's
// max_response_bytes, is passed on but leaves the key in doubt.
func (e *Enforce) OnResponse(resp *http.Response, _ *http.Request) error {
	if resp.Request == nil {
		return nil
	}
	a := attemptFrom(resp.Request.Context())
	if a == nil || a.owner == "" || a.settled {
		return nil
	}
	r := e.r
	if resp.StatusCode >= 500 {
		e.settle(resp.Request, a, nil, ReasonUpstream5xx)
		return nil
	}
	limit := int64(r.cfg.MaxResponseBytes)
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		e.settle(resp.Request, a, nil, ReasonUpstreamError)
		return err
	}
	if int64(len(body)) > limit {
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		e.settle(resp.Request, a, nil, ReasonTooLarge)
		return nil
	}
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	s := stored{status: resp.StatusCode, header: http.Header{}, body: body}
	for _, name := range r.keepHdr {
		if vv, ok := resp.Header[name]; ok {
			s.header[name] = vv
		}
	}
	a.settled = true
	ctx, cancel := storeCtx(resp.Request.Context())
	defer cancel()
	if err := r.g.store.Complete(ctx, a.key, a.owner, sharedstate.Done, encodeResponse(s), r.ttl); err != nil {
		r.recordFailed("complete", err)
	}
	return nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// replay answers from a stored response, through the response stages that
// follow capture (a replay is signed like a fresh answer), marked with
// Idempotent-Replayed.
func (e *Enforce) replay(w http.ResponseWriter, req *http.Request, value []byte) error {
	s, err := decodeResponse(value)
	if err != nil {
		return problem.Internal(err)
	}
	resp := &http.Response{StatusCode: s.status, Header: s.header, Body: io.NopCloser(bytes.NewReader(s.body)),
		ContentLength: int64(len(s.body)), Request: req, Proto: req.Proto, ProtoMajor: req.ProtoMajor, ProtoMinor: req.ProtoMinor}
	resp.Header.Set(ReplayHeader, "true")
	resp.Header.Set("X-Content-Type-Options", "nosniff")
	for _, st := range e.after {
		if err := st.OnResponse(resp, req); err != nil {
			var pe *problem.Error
			if errors.As(err, &pe) {
				return pe
			}
			return problem.Internal(err)
		}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return problem.Internal(err)
	}
	h := w.Header()
	for k, vv := range resp.Header {
		h[k] = vv
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	e.r.outcome("replayed")
	w.WriteHeader(resp.StatusCode)
	if req.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return nil
}
