package observe

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/tlsconf"
	"github.com/portcullis/portcullis/internal/version"
)

// Tracing makes one OpenTelemetry server span per request and exports the
// spans in batches over OTLP/HTTP. Exports never hold up requests: spans
// wait in a bounded queue and are dropped when it is full.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TraceContext
	trust    bool
}

// traceHeaders are the W3C Trace Context headers; a client's copies are
// removed unless tracing.trust_incoming.
var traceHeaders = []string{"Traceparent", "Tracestate"}

// NewTracing builds the exporter and provider for cfg (defaults applied,
// validated). It does not connect until the first export.
func NewTracing(cfg config.Tracing) (*Tracing, error) {
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(cfg.Endpoint),
		otlptracehttp.WithTimeout(cfg.ExportTimeout.D()),
	}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	if strings.HasPrefix(strings.ToLower(cfg.Endpoint), "http://") {
		opts = append(opts, otlptracehttp.WithInsecure())
	} else {
		tc := tlsconf.NewClientConfig()
		if cfg.CAFile != "" {
			pool, err := tlsconf.LoadCertPool(cfg.CAFile)
			if err != nil {
				return nil, config.FieldError{Path: "tracing.ca_file", Message: err.Error()}
			}
			tc.RootCAs = pool
		}
		opts = append(opts, otlptracehttp.WithTLSClientConfig(tc))
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, config.FieldError{Path: "tracing.endpoint", Message: err.Error()}
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", cfg.ServiceName),
		attribute.String("service.version", version.Get().Version),
	)
	sampler := sdktrace.TraceIDRatioBased(*cfg.SampleRatio)
	if cfg.TrustIncoming {
		sampler = sdktrace.ParentBased(sampler)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
	)
	return &Tracing{provider: tp, tracer: tp.Tracer("github.com/portcullis/portcullis"), trust: cfg.TrustIncoming}, nil
}

// Start begins r's server span and returns the context holding it (the
// caller makes the one request copy that carries it). The span's context
// replaces any traceparent the client sent (unless trusted) in r's
// headers, so the upstream sees the gateway's span as its parent.
func (t *Tracing) Start(r *http.Request) (context.Context, trace.Span) {
	ctx := r.Context()
	if t.trust {
		ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	for _, h := range traceHeaders {
		delete(r.Header, h)
	}
	// Spans leave the process like log lines do: everything the client
	// chose (method, path, user agent, request id) goes through Redact.
	method := Redact(clip(r.Method))
	ctx, span := t.tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("http.request.method", method),
			attribute.String("url.path", Redact(clip(r.URL.Path))),
			attribute.String("user_agent.original", Redact(clip(r.UserAgent()))),
		)
	}
	t.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	return ctx, span
}

// End finishes span with what the gateway learnt about the request. It
// records ids and outcomes, never credentials or query strings.
func (t *Tracing) End(span trace.Span, method string, info *reqinfo.Info, status int) {
	if span.IsRecording() {
		if info.Route != "" {
			// Low cardinality: the route's name, never the raw path.
			span.SetName(Redact(clip(method)) + " " + info.Route)
		}
		attrs := []attribute.KeyValue{
			attribute.Int("http.response.status_code", status),
			attribute.String("client.address", info.ClientIPString()),
			attribute.String("portcullis.request_id", Redact(clip(info.ID))),
		}
		if info.Route != "" {
			attrs = append(attrs, attribute.String("portcullis.route", info.Route))
		}
		if info.Upstream != "" {
			attrs = append(attrs, attribute.String("portcullis.upstream", info.Upstream),
				attribute.Float64("portcullis.upstream_latency_ms", float64(info.UpstreamLatency.Microseconds())/1000))
		}
		if p := info.Principal; p != nil {
			attrs = append(attrs, attribute.String("portcullis.consumer", Redact(p.ConsumerID)),
				attribute.String("portcullis.auth_method", string(p.Method)))
		}
		span.SetAttributes(attrs...)
		if status >= 500 {
			span.SetStatus(codes.Error, fmt.Sprintf("HTTP %d", status))
		}
	}
	span.End()
}

// Shutdown exports what is queued (bounded by ctx) and stops exporting.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }
