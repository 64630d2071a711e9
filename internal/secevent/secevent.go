// Package secevent owns the security event model: one typed Event for every
// security decision the gateway makes (an authentication refused, a block
// imposed, a path refused, a detection), and the one call every stage uses
// to report it, Emit(ctx, Event). The request's Sink rides in the context,
// put there by the gateway for each request, and the request's own fields
// (id, client IP, route, method, consumer, credential id) are filled in
// from reqinfo, so a stage states only what it decided.
//
// A Sink must not block: the monitor behind it queues events and drops
// (and counts) what a full queue cannot take. Events never carry a
// secret: a credential is named by its id (an API key id, a token's hash
// prefix), never by its text.
package secevent

import (
	"context"
	"net/netip"
	"time"

	"github.com/portcullis/portcullis/internal/reqinfo"
)

// Type names what happened.
type Type string

// Event types. Every type in Types is exported as a metric series at zero
// from start, so keep the list and the constants together.
const (
	// AuthFailure: a presented credential was refused, or none was sent
	// to a route that needs one (Reason says which).
	AuthFailure Type = "auth_failure"
	// AuthzDenied: authenticated, but the policy refused the request.
	AuthzDenied Type = "authz_denied"
	// RateLimited: a rate limit, quota or concurrency limit refused the
	// request (Reason is the problem type and the policy).
	RateLimited Type = "rate_limited"
	// BruteForceBlock: the brute-force defence imposed a block.
	BruteForceBlock Type = "bruteforce_block"
	// BruteForceRejected: a request refused by a brute-force block.
	BruteForceRejected Type = "bruteforce_rejected"
	// IPDenied: an IP allow or deny list refused the client.
	IPDenied Type = "ip_denied"
	// RequestRefused: the path, method or protocol was refused (Reason:
	// not-found, method-not-allowed, invalid-path, misdirected-request,
	// or parser for what net/http refused before the gateway saw it).
	RequestRefused Type = "request_refused"
	// ValidationRejected: the request did not match the route's contract
	// (schema validation).
	ValidationRejected Type = "validation_rejected"
	// WAFRejected: the web application firewall refused the request.
	WAFRejected Type = "waf_rejected"
	// AdminAuthFailure: an admin API credential was refused.
	AdminAuthFailure Type = "admin_auth_failure"
	// KeyLifecycle: an admin change to consumers, API keys or admin
	// tokens (Reason is the audit action, e.g. key.revoke).
	KeyLifecycle Type = "key_lifecycle"
	// ConfigReload: a configuration reload (Reason success or failure).
	ConfigReload Type = "config_reload"
	// Detection: a detector's rule matched (Detector, Evidence).
	Detection Type = "detection"
	// BlockImposed: an automatic response blocked a source.
	BlockImposed Type = "block_imposed"
	// BlockLifted: a block was lifted by an admin.
	BlockLifted Type = "block_lifted"
	// Blocked: a request refused by a detector's block or read-only
	// response.
	Blocked Type = "blocked"

	// Request is not a security event: it is the monitor's view of one
	// finished request (status, route, consumer), which detectors of
	// behaviour over time need (object probing, anomalies). It is never
	// shipped, listed or counted as an event.
	Request Type = "request"
)

// ReasonParser is the Reason of a RequestRefused that net/http answered or
// dropped before the gateway's handler ran (a malformed request line or
// header, a header timeout); the other refusals name their problem type.
const ReasonParser = "parser"

// Types are the security event types, in a stable order.
var Types = []Type{
	AuthFailure, AuthzDenied, RateLimited, BruteForceBlock, BruteForceRejected, IPDenied,
	RequestRefused, ValidationRejected, WAFRejected, AdminAuthFailure, KeyLifecycle,
	ConfigReload, Detection, BlockImposed, BlockLifted, Blocked,
}

// Known reports whether t is one of Types.
func Known(t Type) bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// Severity ranks events; it maps onto syslog severities.
type Severity uint8

// Severities, lowest first.
const (
	Info Severity = iota
	Notice
	Warning
	High
	Critical
)

var severityNames = [...]string{"info", "notice", "warning", "high", "critical"}

// String names the severity.
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "unknown"
}

// ParseSeverity is the inverse of String.
func ParseSeverity(s string) (Severity, bool) {
	for i, n := range severityNames {
		if n == s {
			return Severity(i), true
		}
	}
	return 0, false
}

// Syslog is the RFC 5424 severity: info 6, notice 5, warning 4, high 3
// (error), critical 2.
func (s Severity) Syslog() int {
	return 6 - int(min(s, Critical))
}

// DefaultSeverity is the severity of t when the emitter does not set one.
func DefaultSeverity(t Type) Severity {
	switch t {
	case AuthFailure, RequestRefused, RateLimited:
		return Info
	case AuthzDenied, IPDenied, ValidationRejected, KeyLifecycle, ConfigReload, Blocked, BruteForceRejected:
		return Notice
	case WAFRejected, AdminAuthFailure, BruteForceBlock, BlockLifted:
		return Warning
	case Detection, BlockImposed:
		return High
	}
	return Info
}

// Event is one security decision. Request fields are filled in by Emit
// from reqinfo; the emitter sets what it decided.
type Event struct {
	// ID is unique per event (set by the monitor).
	ID string
	// Time is when it happened (set by the monitor when zero).
	Time time.Time
	Type Type
	// Severity defaults to DefaultSeverity(Type) (see Normalize).
	Severity Severity
	// SeveritySet records that the emitter chose Severity.
	SeveritySet bool

	RequestID string
	ClientIP  netip.Addr
	// Consumer is the authenticated consumer id ("" before or without
	// authentication).
	Consumer string
	// Credential is the id of the credential used or presented (API key
	// id, token id or hash prefix, certificate thumbprint prefix). Never
	// the secret.
	Credential string
	Route      string
	Method     string
	Status     int
	// Reason is why, in a fixed vocabulary or the log's reason text
	// (which never contains credentials).
	Reason string

	// Actor is who acted, for admin events ("token:<id>").
	Actor string
	// Detector names the rule behind a detection or a block.
	Detector string
	// Action is the response: alert, block, read_only or observe.
	Action string
	// Subject is what a detection or block is about ("ip:203.0.113.9",
	// "consumer:c1").
	Subject string
	// BlockID names the block imposed or lifted.
	BlockID string
	// Until is when a block ends.
	Until time.Time
	// Evidence are a detection's counts (distinct credentials, requests,
	// failures...).
	Evidence map[string]int64

	// Object is a hash of the request's route parameters (the {id} of
	// the object asked for), so that detectors can count distinct objects
	// without the values ever being kept or shipped.
	Object uint64
	// AuthFailed marks a Request whose authentication was refused.
	AuthFailed bool
}

// Normalize sets the default severity when the emitter set none.
func (e *Event) Normalize() {
	if !e.SeveritySet {
		e.Severity = DefaultSeverity(e.Type)
		e.SeveritySet = true
	}
}

// Sink receives events. Emit must return at once (queue or drop).
type Sink interface {
	Emit(Event)
}

type sinkKey struct{}

// With returns ctx carrying sink.
func With(ctx context.Context, sink Sink) context.Context {
	return context.WithValue(ctx, sinkKey{}, sink)
}

// SinkFrom returns the sink on ctx, or nil.
func SinkFrom(ctx context.Context) Sink {
	s, _ := ctx.Value(sinkKey{}).(Sink)
	return s
}

// Emit reports ev to the request's sink, with the request's id, client
// IP, route, method, consumer and credential id filled in where ev left
// them empty. Without a sink (security monitoring off, unit tests) it does
// nothing.
func Emit(ctx context.Context, ev Event) {
	s := SinkFrom(ctx)
	if s == nil {
		return
	}
	if info, ok := reqinfo.Lookup(ctx); ok {
		Fill(&ev, info)
	}
	s.Emit(ev)
}

// Fill copies the request's fields from info into ev where ev has none.
func Fill(ev *Event, info *reqinfo.Info) {
	if ev.RequestID == "" {
		ev.RequestID = info.ID
	}
	if !ev.ClientIP.IsValid() {
		ev.ClientIP = info.ClientIP
	}
	if ev.Route == "" {
		ev.Route = info.Route
	}
	if ev.Method == "" {
		ev.Method = info.Method
	}
	if p := info.Principal; p != nil {
		if ev.Consumer == "" {
			ev.Consumer = p.ConsumerID
		}
		if ev.Credential == "" {
			ev.Credential = p.CredentialID
		}
	}
	if ev.Credential == "" {
		ev.Credential = info.CredentialHint
	}
}

// Reporter is a request stage that emits its own typed events for the
// requests it refuses (authentication, authorisation, rate limits, IP
// lists, brute force, blocks, the WAF). The gateway's refusal choke point
// leaves its refusals alone, so that no refusal is reported twice.
type Reporter interface {
	ReportsRefusals()
}

// Classifier is a request stage whose refusals the gateway's choke point
// reports with this type (ValidationRejected for the input validation
// stages) instead of RequestRefused.
type Classifier interface {
	RefusalType() Type
}
