package observe

import (
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/portcullis/portcullis/internal/principal"
	"github.com/portcullis/portcullis/internal/reqinfo"
)

// Spans leave the process like log lines: what the client chose is
// redacted in their names and attributes too.
func TestSpansAreRedacted(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := &Tracing{provider: tp, tracer: tp.Tracer("test")}
	r := httptest.NewRequest("GET", "https://gw.example/cards/4111111111111111", nil)
	r.Method = "4111111111111111"
	r.Header.Set("User-Agent", "agent Bearer s3cr3t-opaque-token")
	_, span := tr.Start(r)
	info := &reqinfo.Info{ID: "4111-1111-1111-1111", Principal: &principal.Principal{ConsumerID: "4111111111111111", Method: principal.MethodJWT}}
	tr.End(span, r.Method, info, 200)

	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	var all strings.Builder
	all.WriteString(spans[0].Name() + "\n")
	for _, a := range spans[0].Attributes() {
		all.WriteString(string(a.Key) + "=" + a.Value.Emit() + "\n")
	}
	out := all.String()
	for _, secret := range []string{"4111111111111111", "4111-1111-1111-1111", "s3cr3t-opaque-token"} {
		if strings.Contains(out, secret) {
			t.Errorf("%q in span:\n%s", secret, out)
		}
	}
	for _, want := range []string{"url.path=/cards/************1111", "portcullis.request_id=****-****-****-1111", "http.request.method=************1111"} {
		if !strings.Contains(out, want) {
			t.Errorf("span has no %s:\n%s", want, out)
		}
	}
}
