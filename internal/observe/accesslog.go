// Package observe owns what operators see of the gateway: the application
// logger, the structured access log with credentials and card numbers
// redacted, Prometheus metrics, and OpenTelemetry traces.
package observe

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/reqinfo"
	"github.com/portcullis/portcullis/internal/tlsconf"
)

// Entry is what the gateway measured about one finished request.
type Entry struct {
	Status   int
	BytesIn  int64
	BytesOut int64
	Duration time.Duration
}

// AccessLog writes one JSON line per request.
type AccessLog struct {
	out  *BufferedWriter
	view atomic.Pointer[accessView]
}

// accessView is what a reload may change: which headers are logged and
// which of them are redacted, decided once per configuration. The output
// and its buffering need a restart.
type accessView struct {
	headers []loggedHeader
}

type loggedHeader struct {
	name   string // canonical, for a direct map lookup
	attr   string // "header." + name
	redact bool
}

const maxLoggedLen = 1024

// NewAccessLog opens the configured output. Close flushes it.
func NewAccessLog(cfg config.AccessLog) (*AccessLog, error) {
	w, closer, err := OpenOutput(cfg.Output)
	if err != nil {
		return nil, config.FieldError{Path: "logging.access.output", Message: err.Error()}
	}
	out := NewBufferedWriter(w, closer, int(cfg.BufferSize), cfg.FlushInterval.D())
	a := &AccessLog{out: out}
	a.Configure(cfg)
	return a, nil
}

// Configure swaps in cfg's logged and redacted headers (on reload). Lines
// being written keep the set they started with.
func (a *AccessLog) Configure(cfg config.AccessLog) {
	red := NewRedactor(cfg.RedactHeaders)
	v := &accessView{}
	for _, name := range cfg.Headers {
		name = http.CanonicalHeaderKey(name)
		v.headers = append(v.headers, loggedHeader{name: name, attr: "header." + name, redact: red.Sensitive(name)})
	}
	a.view.Store(v)
}

// utcTime writes the record time as RFC 3339 in UTC.
func utcTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.String(slog.TimeKey, a.Value.Time().UTC().Format(time.RFC3339Nano))
	}
	return a
}

func clip(s string) string { return Clip(s, maxLoggedLen) }

// Clip shortens s to about n bytes for a log line. The cut never falls
// inside a run of digits, so a card number at the end is either whole
// (and masked by Redact) or gone, never half kept.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for k := 0; k < 32 && cut > 0 && (isDigit(s[cut-1]) || panSeparator(s, cut-1) > 0 || s[cut-1] == '%'); k++ {
		cut--
	}
	return s[:cut] + "..."
}

// Log records one request. It never writes a credential: the query's values
// and credential headers are redacted here by policy, and every field
// (request id, method, host, path, user agent, logged headers, error)
// passes through Redact in the line handler.
func (a *AccessLog) Log(r *http.Request, info *reqinfo.Info, e Entry) {
	bp := lineBuffers.Get().(*[]byte)
	b := appendLineStart((*bp)[:0], time.Now(), slog.LevelInfo, "access")
	b = appendAttrs(b,
		slog.String("request_id", clip(info.ID)),
		slog.String("client_ip", info.ClientIPString()),
		slog.String("method", clip(r.Method)),
		slog.String("host", clip(r.Host)),
		slog.String("path", clip(r.URL.Path)),
	)
	if r.URL.RawQuery != "" {
		b = appendAttrs(b, slog.String("query", clip(Query(r.URL.RawQuery))))
	}
	b = appendAttrs(b,
		slog.Int("status", e.Status),
		slog.Int64("bytes_in", e.BytesIn),
		slog.Int64("bytes_out", e.BytesOut),
		slog.Float64("duration_ms", float64(e.Duration.Microseconds())/1000),
		slog.String("route", info.Route),
	)
	if info.Upstream != "" {
		b = appendAttrs(b,
			slog.String("upstream", info.Upstream),
			slog.Float64("upstream_latency_ms", float64(info.UpstreamLatency.Microseconds())/1000))
	}
	b = appendAttrs(b, slog.String("user_agent", clip(r.UserAgent())))
	if r.TLS != nil {
		b = appendAttrs(b, slog.String("tls_version", tlsconf.VersionName(r.TLS.Version)))
	}
	if p := info.Principal; p != nil {
		b = appendAttrs(b, slog.String("consumer", p.ConsumerID), slog.String("auth_method", string(p.Method)))
		if p.CredentialID != "" {
			b = appendAttrs(b, slog.String("credential_id", p.CredentialID))
		}
	}
	if info.AuthFailure != "" {
		b = appendAttrs(b, slog.String("auth_failure", info.AuthFailure))
	}
	if info.CredentialHint != "" {
		b = appendAttrs(b, slog.String("credential_hint", clip(info.CredentialHint)))
	}
	for _, h := range a.view.Load().headers {
		if vs := r.Header[h.name]; len(vs) > 0 && vs[0] != "" {
			v := Redacted
			if !h.redact {
				v = clip(vs[0])
			}
			b = appendAttrs(b, slog.String(h.attr, v))
		}
	}
	if w := info.WAF; w != nil && (w.Action != "pass" || len(w.RuleIDs) > 0) {
		b = appendAttrs(b, slog.String("waf_action", w.Action), slog.String("waf_rule_ids", ruleIDs(w.RuleIDs)),
			slog.Int("waf_score", w.InboundScore))
		if w.OutboundScore > 0 {
			b = appendAttrs(b, slog.Int("waf_outbound_score", w.OutboundScore))
		}
	}
	if info.Err != nil {
		b = appendAttrs(b, slog.String("error", clip(info.Err.Error())))
	}
	b = append(b, "}\n"...)
	_, _ = a.out.Write(b)
	*bp = b
	lineBuffers.Put(bp)
}

// appendAttrs encodes access-log fields the way the line handler does
// (the same escaping and redaction), straight into the line: no slog
// record, so a line costs no allocation of its own.
func appendAttrs(b []byte, attrs ...slog.Attr) []byte {
	for _, a := range attrs {
		b = appendAttr(b, "", a)
	}
	return b
}

// ruleIDs joins rule ids with commas ("942100,942190").
func ruleIDs(ids []int) string {
	b := make([]byte, 0, 7*len(ids))
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return string(b)
}

// Close flushes and closes the output.
func (a *AccessLog) Close() error { return a.out.Close() }
