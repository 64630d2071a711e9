package observe

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the gateway's Prometheus metrics, on their own registry (no
// global state).
type Metrics struct {
	Registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	upstreamLatency *prometheus.HistogramVec
	UpstreamHealthy *prometheus.GaugeVec
	Reloads         *prometheus.CounterVec
	CertExpiry      *CertExpiry
	// Unhandled counts what net/http ended without the gateway's handler
	// ever running, by listener and reason: tls_handshake (the handshake
	// failed or never finished), no_request (closed before any request
	// byte), refused (a request, or an HTTP/2 stream, that net/http
	// answered or dropped itself: 400, 431, 501, 505, HTTP/2 400s, header
	// timeouts). Nothing else logs these.
	Unhandled *prometheus.CounterVec
	// HTTP2Errors counts the HTTP/2 protocol errors net/http's server
	// reports (http.HTTP2Config.CountError), by listener and type (a fixed
	// set such as frame_data_stream_0 or conn_ENHANCE_YOUR_CALM_too_many_early_resets).
	HTTP2Errors *prometheus.CounterVec
	// validationFailures counts requests and responses a validation stage
	// refused (JSON limits, OpenAPI), by route and kind; validationFindings
	// counts what report mode let through.
	validationFailures *prometheus.CounterVec
	validationFindings *prometheus.CounterVec
}

// NewMetrics registers every metric on a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_requests_total",
			Help: "Requests served, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_request_duration_seconds",
			Help:    "Time from receiving a request to finishing its response, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		upstreamLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portcullis_upstream_latency_seconds",
			Help:    "Time from sending a request upstream to its response headers, by upstream.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"upstream"}),
		UpstreamHealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcullis_upstream_healthy_targets",
			Help: "Targets currently available, by upstream.",
		}, []string{"upstream"}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_config_reloads_total",
			Help: "Configuration reloads, by result (success, failure).",
		}, []string{"result"}),
		CertExpiry: newCertExpiry(),
		Unhandled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_connections_unhandled_total",
			Help: "Connections or requests net/http ended before the gateway's handler ran, by listener and reason (tls_handshake, no_request, refused).",
		}, []string{"listener", "reason"}),
		HTTP2Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_http2_errors_total",
			Help: "HTTP/2 protocol errors detected by the server, by listener and type.",
		}, []string{"listener", "type"}),
		validationFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_validation_failures_total",
			Help: "Requests and responses refused by validation (JSON limits, OpenAPI contract), by route and kind.",
		}, []string{"route", "kind"}),
		validationFindings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_validation_findings_total",
			Help: "Validation failures let through by report mode, by route and kind.",
		}, []string{"route", "kind"}),
	}
	for _, r := range []string{"success", "failure"} {
		m.Reloads.WithLabelValues(r)
	}
	m.Registry.MustRegister(m.requests, m.duration, m.upstreamLatency, m.UpstreamHealthy, m.Reloads, m.CertExpiry, m.Unhandled, m.HTTP2Errors,
		m.validationFailures, m.validationFindings,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Declare creates the series of a configuration's routes and upstreams
// at zero (a 200 for each route and method, its duration, each upstream's
// latency), so that alert rules and dashboards over rate() see them from
// the first scrape, before any traffic.
func (m *Metrics) Declare(routes map[string][]string, upstreams []string) {
	for route, methods := range routes {
		if len(methods) == 0 {
			methods = []string{"GET"}
		}
		for _, method := range methods {
			ml, ok := methodLabels[method]
			if !ok {
				ml = "OTHER"
			}
			m.requests.WithLabelValues(route, ml, "200")
		}
		m.duration.WithLabelValues(route)
	}
	for _, u := range upstreams {
		m.upstreamLatency.WithLabelValues(u)
	}
}

var methodLabels = map[string]string{
	"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH",
	"DELETE": "DELETE", "OPTIONS": "OPTIONS",
}

var codeLabels = func() [600]string {
	var out [600]string
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}()

// Observe records one finished request. Unknown methods share one label so
// clients cannot create unbounded series.
func (m *Metrics) Observe(route, method string, status int, d time.Duration, upstream string, upstreamLatency time.Duration) {
	if route == "" {
		route = "none"
	}
	ml, ok := methodLabels[method]
	if !ok {
		ml = "OTHER"
	}
	code := "other"
	if status > 0 && status < len(codeLabels) {
		code = codeLabels[status]
	}
	m.requests.WithLabelValues(route, ml, code).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
	if upstream != "" {
		m.upstreamLatency.WithLabelValues(upstream).Observe(upstreamLatency.Seconds())
	}
}

// ValidationFailed counts a request or response a validation stage
// refused on route, by kind (a fixed set each stage documents). A nil
// Metrics counts nothing (tests, the validate command).
func (m *Metrics) ValidationFailed(route, kind string) {
	if m != nil {
		m.validationFailures.WithLabelValues(route, kind).Inc()
	}
}

// ValidationReported counts a validation failure that report mode let
// through on route, by kind.
func (m *Metrics) ValidationReported(route, kind string) {
	if m != nil {
		m.validationFindings.WithLabelValues(route, kind).Inc()
	}
}

// IntegrityMetrics count what the payment-integrity stages decide
// (idempotency keys, message signatures). One set serves a process: it is
// built with the process's long-lived parts, handed to every runtime and
// registered with the gateway's metrics. Its methods accept a nil
// receiver (tests, validate).
type IntegrityMetrics struct {
	// Idempotency counts idempotent requests by route and outcome:
	// forwarded, replayed, in_flight (409), in_doubt (409), mismatch (422),
	// missing (400), invalid (400), released (never reached the upstream),
	// kept_in_doubt (timeout, reset, 5xx, answer too large to store),
	// store_error (503, or a result that could not be recorded).
	Idempotency *prometheus.CounterVec
	// Signatures counts request signature checks by route and result:
	// verified, or the failure's code (missing, invalid, expired,
	// replayed, unknown_key, digest_mismatch, ...).
	Signatures *prometheus.CounterVec
	// Signed counts messages the gateway signed, by route and direction
	// (upstream, response).
	Signed *prometheus.CounterVec
}

// NewIntegrityMetrics makes the counters (registered by the caller).
func NewIntegrityMetrics() *IntegrityMetrics {
	return &IntegrityMetrics{
		Idempotency: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_idempotency_requests_total",
			Help: "Requests carrying an Idempotency-Key (or missing one where required), by route and outcome.",
		}, []string{"route", "outcome"}),
		Signatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_signature_verifications_total",
			Help: "HTTP message signature checks of requests, by route and result (verified or the failure code).",
		}, []string{"route", "result"}),
		Signed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcullis_messages_signed_total",
			Help: "Messages the gateway signed with its key, by route and direction (upstream, response).",
		}, []string{"route", "direction"}),
	}
}

// Collectors are the metrics to register.
func (m *IntegrityMetrics) Collectors() []prometheus.Collector {
	if m == nil {
		return nil
	}
	return []prometheus.Collector{m.Idempotency, m.Signatures, m.Signed}
}

// IdempotencyOutcome counts one idempotency decision.
func (m *IntegrityMetrics) IdempotencyOutcome(route, outcome string) {
	if m != nil {
		m.Idempotency.WithLabelValues(route, outcome).Inc()
	}
}

// SignatureResult counts one signature check.
func (m *IntegrityMetrics) SignatureResult(route, result string) {
	if m != nil {
		m.Signatures.WithLabelValues(route, result).Inc()
	}
}

// MessageSigned counts one message the gateway signed.
func (m *IntegrityMetrics) MessageSigned(route, direction string) {
	if m != nil {
		m.Signed.WithLabelValues(route, direction).Inc()
	}
}
