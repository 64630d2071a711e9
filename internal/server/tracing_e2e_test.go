package server_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a real OTLP/HTTP endpoint: it decodes what the exporter
// sends, as a collector would.
type otlpReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	spans   []*tracepb.Span
	service []string
	auth    []string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	rc := &otlpReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.auth = append(rc.auth, r.Header.Get("X-Collector-Key"))
		for _, rs := range req.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					rc.service = append(rc.service, a.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.ScopeSpans {
				rc.spans = append(rc.spans, ss.Spans...)
			}
		}
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(b)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func attrs(s *tracepb.Span) map[string]string {
	out := map[string]string{}
	for _, a := range s.Attributes {
		v := a.GetValue()
		switch {
		case v.GetStringValue() != "":
			out[a.Key] = v.GetStringValue()
		case v.GetIntValue() != 0:
			out[a.Key] = strconv.FormatInt(v.GetIntValue(), 10)
		}
	}
	return out
}

const tracingConfig = gatewayHead + `routes:
  - name: accounts
    path: /v1/accounts/{id}
    upstream: api
    auth: none
logging:
  access:
    enabled: false
tracing:
  enabled: true
  endpoint: "{{OTLP}}/v1/traces"
  insecure: true
  service_name: gw-test
  trust_incoming: {{TRUST}}
  headers:
    X-Collector-Key: k-123
`

// A server span per request and a client span per upstream attempt reach a
// real OTLP endpoint with the route, status and ids; the upstream gets the
// attempt's span as its traceparent parent. A client's traceparent is
// replaced unless trust_incoming.
func TestTracing(t *testing.T) {
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientParent := "00-" + clientTrace + "-00f067aa0ba902b7-01"
	for _, trust := range []bool{false, true} {
		name := map[bool]string{false: "client context replaced", true: "client context trusted"}[trust]
		t.Run(name, func(t *testing.T) {
			rc := newOTLPReceiver(t)
			var gotParent string
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				gotParent = r.Header.Get("Traceparent")
				_, _ = io.WriteString(w, "ok")
			})
			g := startGateway(t, tracingConfig, map[string]string{"UP": up.URL, "OTLP": rc.URL, "TRUST": map[bool]string{false: "false", true: "true"}[trust]})
			resp, _ := g.get("/v1/accounts/4111111111111111", "Traceparent", clientParent, "Authorization", "Bearer secret-token")
			if resp.StatusCode != 200 {
				t.Fatal(resp.Status)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := g.srv.Shutdown(ctx); err != nil { // flushes the spans
				t.Fatal(err)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			var s, client *tracepb.Span
			for _, sp := range rc.spans {
				switch sp.Kind {
				case tracepb.Span_SPAN_KIND_SERVER:
					s = sp
				case tracepb.Span_SPAN_KIND_CLIENT:
					client = sp
				}
			}
			if len(rc.spans) != 2 || s == nil || client == nil {
				t.Fatalf("exported %d spans, want a server span and an upstream client span", len(rc.spans))
			}
			traceID := hex.EncodeToString(s.TraceId)
			if string(client.TraceId) != string(s.TraceId) || string(client.ParentSpanId) != string(s.SpanId) ||
				client.Name != "upstream api" || attrs(client)["server.address"] != strings.TrimPrefix(up.URL, "http://") ||
				attrs(client)["http.response.status_code"] != "200" {
				t.Errorf("client span %q parent %x attrs %v; want a child of the server span %x", client.Name, client.ParentSpanId, attrs(client), s.SpanId)
			}
			// The upstream's parent is the attempt's client span.
			if want := "00-" + traceID + "-" + hex.EncodeToString(client.SpanId) + "-01"; gotParent != want {
				t.Errorf("upstream traceparent = %q, want %q", gotParent, want)
			}
			if trust != (traceID == clientTrace) {
				t.Errorf("trace id %s (client's %s) with trust_incoming %v", traceID, clientTrace, trust)
			}
			if trust && hex.EncodeToString(s.ParentSpanId) != "00f067aa0ba902b7" {
				t.Errorf("parent span %x, want the client's", s.ParentSpanId)
			}
			a := attrs(s)
			want := map[string]string{
				"http.request.method": "GET", "url.path": "/v1/accounts/************1111",
				"http.response.status_code": "200", "portcullis.route": "accounts",
				"portcullis.upstream": "api", "client.address": "127.0.0.1",
				"portcullis.request_id": resp.Header.Get("X-Request-Id"),
			}
			for k, v := range want {
				if a[k] != v {
					t.Errorf("span %s = %q, want %q", k, a[k], v)
				}
			}
			if s.Name != "GET accounts" || s.Kind != tracepb.Span_SPAN_KIND_SERVER {
				t.Errorf("span %q kind %v", s.Name, s.Kind)
			}
			for _, v := range a {
				if strings.Contains(v, "secret-token") || strings.Contains(v, "4111111111111111") {
					t.Errorf("a span attribute holds a secret: %q", v)
				}
			}
			if len(rc.service) == 0 || rc.service[0] != "gw-test" || rc.auth[0] != "k-123" {
				t.Errorf("resource service.name %v, export header %v", rc.service, rc.auth)
			}
		})
	}
}
