package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"strconv"
)

// redactHandler passes every record through Redact before the handler it
// wraps encodes it: the message, every key and every value, at any depth
// (groups, LogValuers, errors, structs), whatever the caller logged. So a
// new field or a new log call can never forget to redact, and what Go's
// own packages write (server and transport error lines) is covered too.
type redactHandler struct{ inner slog.Handler }

// Redacting returns h wrapped so that nothing it writes holds a card
// number or a recognisable credential (see Redact). Wrapping twice is a
// no-op.
func Redacting(h slog.Handler) slog.Handler {
	if _, ok := h.(*redactHandler); ok {
		return h
	}
	return &redactHandler{inner: h}
}

// ErrorLog returns a standard-library logger for an http.Server's or a
// ReverseProxy's ErrorLog: each line becomes a warn record of l, redacted.
// Warn, not debug: these lines are how an operator sees a client or an
// upstream misbehaving, and with redaction they are safe to keep.
func ErrorLog(l *slog.Logger) *log.Logger {
	return slog.NewLogLogger(Redacting(l.Handler()), slog.LevelWarn)
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = redactAttr(a)
	}
	return &redactHandler{inner: h.inner.WithAttrs(out)}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{inner: h.inner.WithGroup(Redact(name))}
}

func redactAttr(a slog.Attr) slog.Attr {
	a.Key = Redact(a.Key)
	a.Value = redactValue(a.Value.Resolve())
	return a
}

func redactValue(v slog.Value) slog.Value {
	switch v.Kind() {
	case slog.KindString:
		s := v.String()
		if r := Redact(s); r != s {
			return slog.StringValue(r)
		}
	case slog.KindInt64:
		if n := v.Int64(); n >= minPAN || n <= -minPAN {
			return redactNumber(v, strconv.FormatInt(n, 10))
		}
	case slog.KindUint64:
		if n := v.Uint64(); n >= minPAN {
			return redactNumber(v, strconv.FormatUint(n, 10))
		}
	case slog.KindGroup:
		as := v.Group()
		out := make([]slog.Attr, len(as))
		for i, a := range as {
			out[i] = redactAttr(a)
		}
		return slog.GroupValue(out...)
	case slog.KindAny:
		return redactAny(v)
	}
	return v
}

// minPAN is the smallest number with a card number's 13 digits.
const minPAN = 1_000_000_000_000

// redactNumber logs a number that is a card number as its masked text.
func redactNumber(v slog.Value, digits string) slog.Value {
	if m := RedactPAN(digits); m != digits {
		return slog.StringValue(m)
	}
	return v
}

// redactAny redacts what a handler would write for an arbitrary value
// (see anyText); it keeps v itself when nothing needed redacting.
func redactAny(v slog.Value) slog.Value {
	text, isJSON, changed := anyText(v.Any())
	switch {
	case !changed:
		return v
	case isJSON:
		return slog.AnyValue(json.RawMessage(text))
	}
	return slog.StringValue(text)
}

// anyText is the redacted text of x: an error's message, bytes as text
// (base64 or a list of numbers would hide a card number from Redact, not
// from a reader), anything else as the JSON the JSON handler writes for it,
// kept as JSON (isJSON) when it still is after redaction. changed reports
// whether redaction (or the conversion of errors and bytes) changed it.
func anyText(x any) (text string, isJSON, changed bool) {
	switch x := x.(type) {
	case nil:
		return "null", true, false
	case error:
		return Redact(x.Error()), false, true
	case []byte:
		return Redact(string(x)), false, true
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return Redact(fmt.Sprintf("%+v", x)), false, true
	}
	js := string(bytes.TrimRight(buf.Bytes(), "\n"))
	r := Redact(js)
	switch {
	case r == js:
		return js, true, false
	case json.Valid([]byte(r)):
		return r, true, true
	}
	return r, false, true
}
