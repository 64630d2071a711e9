package observe

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"testing"
	"time"
)

// TestLineHandlerIsValidJSON checks every kind of value and every awkward
// string decodes back to what was logged.
func TestLineHandlerIsValidJSON(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newLineHandler(&buf, slog.LevelInfo)).With("listener", "public").WithGroup("g")
	strs := []string{"plain", `q"uote`, `back\slash`, "nl\nrt\r\ttab", "ctl\x00\x1f\x7f", "ünï€😀", "bad\xffutf8", "ls\u2028ps\u2029", "</script>"}
	for _, s := range strs {
		buf.Reset()
		log.LogAttrs(t.Context(), slog.LevelInfo, "access",
			slog.String("s", s), slog.Int("i", -42), slog.Uint64("u", 7), slog.Float64("f", 1.25),
			slog.Float64("nan", math.NaN()), slog.Bool("b", true), slog.Duration("d", time.Millisecond),
			slog.Time("t", time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))))
		var m map[string]any
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			t.Fatalf("%q: invalid JSON %s: %v", s, buf.String(), err)
		}
		want := s
		if s == "bad\xffutf8" {
			want = "bad\ufffdutf8"
		}
		checks := map[string]any{
			"msg": "access", "level": "INFO", "listener": "public", "g.s": want, "g.i": -42.0, "g.u": 7.0,
			"g.f": 1.25, "g.nan": "NaN", "g.b": true, "g.d": 1e6, "g.t": "2026-01-02T02:04:05.000000006Z",
		}
		for k, v := range checks {
			if m[k] != v {
				t.Errorf("%q: %s = %#v, want %#v", s, k, m[k], v)
			}
		}
		if bytes.Count(buf.Bytes(), []byte("\n")) != 1 {
			t.Errorf("%q: not exactly one line: %q", s, buf.String())
		}
	}
}

func BenchmarkAccessLine(b *testing.B) {
	for _, h := range []struct {
		name string
		h    slog.Handler
	}{
		{"line", newLineHandler(discard{}, slog.LevelInfo)},
		{"slog-json", slog.NewJSONHandler(discard{}, nil)},
	} {
		log := slog.New(h.h)
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				log.LogAttrs(b.Context(), slog.LevelInfo, "access",
					slog.String("request_id", "sczfiraogwxqk2cn"), slog.String("client_ip", "127.0.0.1"),
					slog.String("method", "GET"), slog.String("host", "127.0.0.1:8443"), slog.String("path", "/v1/accounts"),
					slog.Int("status", 200), slog.Int64("bytes_in", 0), slog.Int64("bytes_out", 546),
					slog.Float64("duration_ms", 1.234), slog.String("route", "accounts"), slog.String("upstream", "payments"),
					slog.Float64("upstream_latency_ms", 0.9), slog.String("user_agent", "curl/8.0"), slog.String("tls_version", "TLS1.3"))
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
