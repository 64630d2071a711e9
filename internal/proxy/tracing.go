package proxy

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// startSpan begins a client span for one attempt when the request is
// traced and sampled (the gateway's recording server span is in its
// context), and puts it in out's traceparent so the upstream's work hangs
// under this attempt. No tracer is configured here: the server span's
// provider is used.
func (u *Upstream) startSpan(out *http.Request, t *Target, attempt int) trace.Span {
	parent := trace.SpanFromContext(out.Context())
	if !parent.IsRecording() {
		// Tracing off, or this trace not sampled: the server span's
		// traceparent (already in the headers) is what the upstream gets.
		return nil
	}
	ctx, span := u.tracer(parent).Start(out.Context(), u.spanName, trace.WithSpanKind(trace.SpanKindClient))
	if span.IsRecording() {
		span.SetAttributes(
			attribute.String("portcullis.upstream", u.Name),
			attribute.String("server.address", t.URL.Host),
			attribute.Int("portcullis.attempt", attempt+1),
		)
	}
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(out.Header))
	return span
}

// tracer is the tracer of parent's provider, looked up once per provider:
// the SDK's lookup takes a lock every process-wide request would share.
func (u *Upstream) tracer(parent trace.Span) trace.Tracer {
	tp := parent.TracerProvider()
	if c := u.tracerCache.Load(); c != nil && c.provider == tp {
		return c.tracer
	}
	c := &cachedTracer{provider: tp, tracer: tp.Tracer("github.com/portcullis/portcullis/proxy")}
	u.tracerCache.Store(c)
	return c.tracer
}

type cachedTracer struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
}

// endSpan records the attempt's outcome: the status, or the error's kind
// (never its text, which can name internal hosts).
func endSpan(span trace.Span, resp *http.Response, err error) {
	if span == nil {
		return
	}
	switch {
	case err != nil:
		span.SetStatus(codes.Error, "upstream request failed")
	case resp != nil:
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		if resp.StatusCode >= 500 {
			span.SetStatus(codes.Error, "upstream answered "+http.StatusText(resp.StatusCode))
		}
	}
	span.End()
}
