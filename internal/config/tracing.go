package config

import (
	"net/url"
	"strings"
	"time"
)

// Tracing configures OpenTelemetry traces: one server span per request,
// exported over OTLP/HTTP, its context passed to the upstream in
// `traceparent` (W3C Trace Context).
type Tracing struct {
	// Enabled turns tracing on. Default false.
	Enabled bool `yaml:"enabled"`
	// Endpoint is the OTLP/HTTP traces URL, e.g.
	// https://collector:4318/v1/traces. Required when enabled.
	Endpoint string `yaml:"endpoint"`
	// Insecure allows an http:// endpoint. Default false.
	Insecure bool `yaml:"insecure"`
	// CAFile is a PEM bundle trusted for an https endpoint. Default: the
	// system roots.
	CAFile string `yaml:"ca_file"`
	// Headers are sent with every export (e.g. an API key; write secrets
	// as ${ENV_VAR}). Default: none.
	Headers map[string]string `yaml:"headers"`
	// ServiceName is the service.name resource attribute. Default
	// "portcullis".
	ServiceName string `yaml:"service_name"`
	// SampleRatio of new traces recorded, 0 to 1. Default 1.
	SampleRatio *float64 `yaml:"sample_ratio"`
	// TrustIncoming continues a client's traceparent (and follows its
	// sampling decision). Default false: a client's trace context is
	// replaced, so callers cannot pick trace ids or force sampling.
	TrustIncoming bool `yaml:"trust_incoming"`
	// ExportTimeout bounds one export. Default 10s.
	ExportTimeout Duration `yaml:"export_timeout"`
}

// Tracing defaults.
const (
	DefaultTracingServiceName   = "portcullis"
	DefaultTracingExportTimeout = 10 * time.Second
)

func (Tracing) defaults() any {
	return Tracing{ServiceName: DefaultTracingServiceName, ExportTimeout: Duration(DefaultTracingExportTimeout), SampleRatio: ptr(1.0)}
}

func (t *Tracing) validate(errs *Errors) {
	if !t.Enabled {
		return
	}
	u, err := url.Parse(t.Endpoint)
	switch {
	case t.Endpoint == "":
		errs.Add("tracing.endpoint", "is required when tracing is enabled")
	case err != nil || u.Host == "":
		errs.Add("tracing.endpoint", "must be an http(s) URL")
	case u.User != nil:
		errs.Add("tracing.endpoint", "must not contain credentials (use tracing.headers)")
	case strings.EqualFold(u.Scheme, "http") && !t.Insecure:
		errs.Add("tracing.endpoint", "is plain http: use https, or set tracing.insecure: true")
	case !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"):
		errs.Add("tracing.endpoint", "must be an http(s) URL")
	}
	if r := t.SampleRatio; r != nil && (*r < 0 || *r > 1) {
		errs.Add("tracing.sample_ratio", "must be between 0 and 1")
	}
	if t.ServiceName == "" {
		errs.Add("tracing.service_name", "must not be empty")
	}
	if d := t.ExportTimeout.D(); d < 100*time.Millisecond || d > time.Minute {
		errs.Add("tracing.export_timeout", "must be between 100ms and 1m")
	}
	for name := range t.Headers {
		validHeaderName(errs, Join("tracing.headers", name), name)
	}
}
