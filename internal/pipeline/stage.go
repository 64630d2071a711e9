package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"slices"
)

// Phase is where a stage runs on the request path. Phases run in this
// order; within a phase, stages run in the order the gateway's registry
// lists them. The order is deliberate: only admitted callers cost memory
// (the body is read after authentication and rate limits), and the
// expensive inspections (schemas, the WAF) run after authentication on
// authenticated routes, so their CPU is not an anonymous lever.
type Phase int

const (
	// Admit rejects what needs no identity: IP lists, blocked sources, a
	// declared body over the route's limit.
	Admit Phase = iota
	// Authenticate establishes the caller (reqinfo Principal).
	Authenticate
	// Authorise decides whether the caller may make this request.
	Authorise
	// Admission applies rate limits, quotas and concurrency limits.
	Admission
	// Body reads the request body at most once, within the route's limit
	// and the process's memory budget (see package validate).
	Body
	// Validate inspects the request: schemas, structure, the WAF.
	Validate
	// Forward prepares the outbound request; the forwarder follows it.
	Forward
	phaseCount
)

var phaseNames = [...]string{"admit", "authenticate", "authorise", "admission", "body", "validate", "forward"}

// String names the phase.
func (p Phase) String() string {
	if p < 0 || p >= phaseCount {
		return fmt.Sprintf("phase(%d)", int(p))
	}
	return phaseNames[p]
}

// Stage is one step of a route's request path. A stage is built once per
// route (per reload) from config that was validated at load; Handle wraps
// the rest of the chain, and may run code before and after it.
type Stage interface {
	// Name identifies the stage in errors, traces and tests.
	Name() string
	// Phase is where the stage runs.
	Phase() Phase
	// Handle returns next wrapped by this stage.
	Handle(next Handler) Handler
}

// ResponsePhase is where a response stage runs. Response stages see the
// upstream's response (status, headers, and, when they ask and within a
// budget, the body) before it reaches the client; replays re-enter at
// Sign so that a replayed response is signed like a fresh one.
type ResponsePhase int

const (
	// CheckResponse validates the response against the route's contract.
	CheckResponse ResponsePhase = iota
	// InspectResponse runs the WAF's response phases.
	InspectResponse
	// MaskResponse removes what must not reach a client (card numbers).
	MaskResponse
	// CaptureResponse keeps the response (idempotency replay).
	CaptureResponse
	// SignResponse signs what the client receives; last.
	SignResponse
)

// ResponseStage is a stage that also acts on the upstream's response. An
// error from OnResponse replaces the response with the problem the error
// carries (a 502 unless it says otherwise), written by package problem:
// the upstream's body is never relayed after a response stage refused it.
type ResponseStage interface {
	Stage
	ResponsePhase() ResponsePhase
	OnResponse(resp *http.Response, r *http.Request) error
}

// Replayer is a response stage that answers some requests from a stored
// response instead of the upstream (an idempotent replay). The chain hands
// it the route's response stages of later response phases (signing),
// which it runs on the stored response, so that a replay is signed like a
// fresh answer.
type Replayer interface {
	ResponseStage
	ReplayThrough(later []ResponseStage)
}

// WireReplayers gives every Replayer among ordered (response stages in
// response phase order) the stages that run after its own phase.
func WireReplayers(ordered []ResponseStage) {
	for _, s := range ordered {
		rp, ok := s.(Replayer)
		if !ok {
			continue
		}
		var later []ResponseStage
		for _, l := range ordered {
			if l.ResponsePhase() > rp.ResponsePhase() {
				later = append(later, l)
			}
		}
		rp.ReplayThrough(later)
	}
}

// OutboundStage is a stage that acts on the request the forwarder sends,
// after its final rewrite: identity and forwarding headers set and, for
// each attempt, the target's scheme, host and path in place. It signs
// requests for the upstream. An error stops the attempt before anything
// is sent.
type OutboundStage interface {
	Stage
	OnOutbound(out *http.Request) error
}

// OutboundStages returns the stages among stages that act on outbound
// requests, in their given order.
func OutboundStages(stages []Stage) []OutboundStage {
	var out []OutboundStage
	for _, s := range stages {
		if o, ok := s.(OutboundStage); ok {
			out = append(out, o)
		}
	}
	return out
}

// AuthObserver is a stage that observes authentication outcomes as typed
// signals instead of inspecting status codes (the brute-force defence).
// The authentication stage calls every observer of its route, in registry
// order. A non-nil error replaces the outcome: a blocked credential gets
// the observer's problem whether it verified or not, so the status never
// tells a guesser that a secret was right.
type AuthObserver interface {
	Stage
	// Authenticated is called when a credential verified (the principal is
	// on reqinfo).
	Authenticated(ctx context.Context) error
	// AuthFailed is called when a presented credential was refused (the
	// reason and credential hint are on reqinfo).
	AuthFailed(ctx context.Context) error
}

// BodyConsumer is a stage that inspects the request body (validation, the
// WAF, signatures, idempotency fingerprints). A route with one reads the
// body once, within the process's memory budget, in the Body phase; the
// consumer finds it on reqinfo (Body), the same bytes the upstream gets.
type BodyConsumer interface {
	Stage
	NeedsBody() bool
}

// BodySelector is a BodyConsumer that needs the bodies of some requests
// only (the JSON limits: bodies that are, or may be, JSON). A route with
// it reads a request's body only when the selector wants that body, so a
// check that is on by default costs a file upload nothing.
type BodySelector interface {
	BodyConsumer
	WantsBody(r *http.Request) bool
}

// NeedBody reports whether a stage among stages needs the request body.
func NeedBody(stages []Stage) bool {
	for _, s := range stages {
		if c, ok := s.(BodyConsumer); ok && c.NeedsBody() {
			return true
		}
	}
	return false
}

// BodyWanted returns whether the route's stages need the body of a
// request: always when a consumer that is not a BodySelector needs bodies,
// per request when only selectors do, never (nil) when no stage does.
func BodyWanted(stages []Stage) func(*http.Request) bool {
	var selectors []BodySelector
	for _, s := range stages {
		c, ok := s.(BodyConsumer)
		if !ok || !c.NeedsBody() {
			continue
		}
		sel, ok := c.(BodySelector)
		if !ok {
			return always
		}
		selectors = append(selectors, sel)
	}
	switch len(selectors) {
	case 0:
		return nil
	case 1:
		return selectors[0].WantsBody
	}
	return func(r *http.Request) bool {
		for _, s := range selectors {
			if s.WantsBody(r) {
				return true
			}
		}
		return false
	}
}

func always(*http.Request) bool { return true }

// Order returns stages in the order they run: by phase, and within a
// phase in the given (registry) order. It rejects an unknown phase, so a
// stage cannot be slotted in by accident.
func Order(stages []Stage) ([]Stage, error) {
	ordered := slices.Clone(stages)
	for _, s := range ordered {
		if p := s.Phase(); p < 0 || p >= phaseCount {
			return nil, fmt.Errorf("stage %s: unknown %v", s.Name(), p)
		}
	}
	slices.SortStableFunc(ordered, func(a, b Stage) int { return int(a.Phase()) - int(b.Phase()) })
	return ordered, nil
}

// Compose wraps terminal with stages in the order they run (see Order).
func Compose(terminal Handler, stages []Stage) (Handler, error) {
	ordered, err := Order(stages)
	if err != nil {
		return nil, err
	}
	h := terminal
	for i := len(ordered) - 1; i >= 0; i-- {
		h = ordered[i].Handle(h)
	}
	return h, nil
}

// ResponseStages returns the stages among stages that act on responses,
// ordered by response phase.
func ResponseStages(stages []Stage) []ResponseStage {
	var out []ResponseStage
	for _, s := range stages {
		if rs, ok := s.(ResponseStage); ok {
			out = append(out, rs)
		}
	}
	slices.SortStableFunc(out, func(a, b ResponseStage) int { return int(a.ResponsePhase()) - int(b.ResponsePhase()) })
	return out
}

// AuthObservers returns the stages among stages that observe
// authentication outcomes, in their given order.
func AuthObservers(stages []Stage) []AuthObserver {
	var out []AuthObserver
	for _, s := range stages {
		if o, ok := s.(AuthObserver); ok {
			out = append(out, o)
		}
	}
	return out
}
