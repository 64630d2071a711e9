package observe

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

type card struct {
	PAN   string `json:"pan"`
	Token string `json:"access_token"`
}

type panValuer struct{}

func (panValuer) LogValue() slog.Value { return slog.StringValue("4111111111111111") }

// TestRedactingHandlers logs a card number and a token in every place a
// record can hold them, through the application logger and the access
// log's line handler: neither may come out, and the lines stay JSON.
func TestRedactingHandlers(t *testing.T) {
	const pan, token = "4111 1111 1111 1111", "Bearer s3cr3t-opaque-token"
	records := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"message", func(l *slog.Logger) { l.Warn("got " + pan + " with " + token) }},
		{"string", func(l *slog.Logger) { l.Info("x", "path", "/cards/"+pan, "auth", token) }},
		{"key", func(l *slog.Logger) { l.Info("x", pan, 1) }},
		{"int", func(l *slog.Logger) { l.Info("x", "n", int64(4111111111111111), "u", uint64(4111111111111111)) }},
		{"error", func(l *slog.Logger) { l.Error("x", "error", errors.New("upstream said "+pan)) }},
		{"bytes", func(l *slog.Logger) { l.Info("x", "raw", []byte(token+" "+pan)) }},
		{"struct", func(l *slog.Logger) { l.Info("x", "card", card{PAN: pan, Token: "abc"}) }},
		{"map", func(l *slog.Logger) { l.Info("x", "headers", map[string][]string{"X-Card": {pan}}) }},
		{"number in any", func(l *slog.Logger) { l.Info("x", "v", []int64{4111111111111111}) }},
		{"group", func(l *slog.Logger) { l.Info("x", slog.Group("req", "id", pan, slog.Group("in", "ua", token))) }},
		{"with attrs", func(l *slog.Logger) { l.With("request_id", pan).Info("x") }},
		{"with group", func(l *slog.Logger) { l.WithGroup(pan).Info("x", "a", "b") }},
		{"log valuer", func(l *slog.Logger) { l.Info("x", "v", panValuer{}) }},
		{"error log", func(l *slog.Logger) {
			ErrorLog(l).Printf("Unsolicited response received on idle HTTP channel starting with %q", "HTTP/1.1 200 OK\r\nAuthorization: "+token+"\r\n\r\n"+pan)
		}},
	}
	handlers := []struct {
		name string
		make func(*bytes.Buffer) *slog.Logger
	}{
		{"application", func(b *bytes.Buffer) *slog.Logger { return NewLogger(b, "debug") }},
		{"access", func(b *bytes.Buffer) *slog.Logger { return slog.New(newLineHandler(b, slog.LevelDebug)) }},
	}
	for _, h := range handlers {
		for _, rec := range records {
			t.Run(h.name+"/"+rec.name, func(t *testing.T) {
				var buf bytes.Buffer
				rec.log(h.make(&buf))
				out := buf.String()
				if out == "" {
					t.Fatal("nothing logged")
				}
				for _, secret := range []string{"4111111111111111", "4111 1111 1111 1111", "1111 1111 1111 1111", "s3cr3t-opaque-token"} {
					if strings.Contains(out, secret) {
						t.Fatalf("%q in %s", secret, out)
					}
				}
				if !strings.Contains(out, "1111") {
					t.Fatalf("the last four digits are gone too: %s", out)
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					t.Fatalf("not one JSON line: %v: %s", err, out)
				}
			})
		}
	}
}

func TestErrorLogIsWarn(t *testing.T) {
	var buf bytes.Buffer
	ErrorLog(NewLogger(&buf, "warn")).Print("http: TLS handshake error from 192.0.2.1:1234: EOF")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%v: %q", err, buf.String())
	}
	if m["level"] != "WARN" || m["msg"] != "http: TLS handshake error from 192.0.2.1:1234: EOF" {
		t.Fatalf("line = %v", m)
	}
}

func TestRedactingKeepsCleanValues(t *testing.T) {
	var a, b bytes.Buffer
	attrs := []any{"status", 200, "bytes", int64(1 << 40), "path", "/v1/accounts", "m", map[string]int{"a": 1}, "err", errors.New("dial tcp: refused")}
	slog.New(slog.NewJSONHandler(&a, nil)).Info("x", attrs...)
	slog.New(Redacting(slog.NewJSONHandler(&b, nil))).Info("x", attrs...)
	strip := func(s string) string { _, rest, _ := strings.Cut(s, `"level"`); return rest }
	if strip(a.String()) != strip(b.String()) {
		t.Fatalf("redaction changed a clean line:\n%s%s", a.String(), b.String())
	}
}
