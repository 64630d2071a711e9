package observe

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// lineHandler is a slog.Handler for the access log: one flat JSON object per
// record, encoded with strconv into a pooled buffer, written with one Write.
// slog's JSONHandler marshals floats through encoding/json and resolves
// every value generically; for a fixed-shape line on every request this
// handler costs a fraction of that. Groups are flattened into dotted keys.
// Every string and message goes through Redact as it is encoded (keys and
// numbers long enough to be card numbers through RedactPAN), so no field
// of the access log can hold a card number or a recognisable credential,
// whatever the caller put in it.
type lineHandler struct {
	w      io.Writer
	level  slog.Level
	prefix string // group path, "a.b."
	pre    []byte // attrs from WithAttrs, already encoded with a leading comma
}

var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func newLineHandler(w io.Writer, level slog.Level) *lineHandler {
	return &lineHandler{w: w, level: level}
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	bp := lineBuffers.Get().(*[]byte)
	b := appendLineStart((*bp)[:0], r.Time, r.Level, r.Message)
	b = append(b, h.pre...)
	r.Attrs(func(a slog.Attr) bool {
		b = appendAttr(b, h.prefix, a)
		return true
	})
	b = append(b, "}\n"...)
	_, err := h.w.Write(b)
	*bp = b
	lineBuffers.Put(bp)
	return err
}

// appendLineStart opens a line: its time, level and message, the fields
// every line has first.
func appendLineStart(b []byte, t time.Time, level slog.Level, msg string) []byte {
	b = append(b, `{"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, level.String()...)
	b = append(b, `","msg":`...)
	return appendJSONString(b, Redact(msg))
}

func (h *lineHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.pre = append([]byte(nil), h.pre...)
	for _, a := range attrs {
		h2.pre = appendAttr(h2.pre, h.prefix, a)
	}
	return &h2
}

func (h *lineHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

func appendAttr(b []byte, prefix string, a slog.Attr) []byte {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			b = appendAttr(b, p, g)
		}
		return b
	}
	if a.Key == "" {
		return b
	}
	b = append(b, ',')
	// Keys are chosen by code and configuration, not by clients: masking
	// card numbers is enough there, and cheaper on every line.
	b = appendJSONString(b, RedactPAN(prefix+a.Key))
	b = append(b, ':')
	switch v.Kind() {
	case slog.KindString:
		b = appendJSONString(b, Redact(v.String()))
	case slog.KindInt64:
		if n := v.Int64(); n >= minPAN || n <= -minPAN {
			b = appendNumber(b, strconv.FormatInt(n, 10))
		} else {
			b = strconv.AppendInt(b, n, 10)
		}
	case slog.KindUint64:
		if n := v.Uint64(); n >= minPAN {
			b = appendNumber(b, strconv.FormatUint(n, 10))
		} else {
			b = strconv.AppendUint(b, n, 10)
		}
	case slog.KindFloat64:
		f := v.Float64()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			b = appendJSONString(b, strconv.FormatFloat(f, 'g', -1, 64))
		} else {
			b = strconv.AppendFloat(b, f, 'f', -1, 64)
		}
	case slog.KindBool:
		b = strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		b = strconv.AppendInt(b, int64(v.Duration()), 10)
	case slog.KindTime:
		b = append(b, '"')
		b = v.Time().UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	case slog.KindAny:
		if text, isJSON, _ := anyText(v.Any()); isJSON {
			b = append(b, text...)
		} else {
			b = appendJSONString(b, text)
		}
	default:
		b = appendJSONString(b, Redact(v.String()))
	}
	return b
}

// appendNumber writes a number that is a card number as its masked text.
func appendNumber(b []byte, digits string) []byte {
	if m := RedactPAN(digits); m != digits {
		return appendJSONString(b, m)
	}
	return append(b, digits...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028
// and U+2029 escaped so a line is safe to embed in JavaScript too.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			case '\u2028':
				b = append(b, `\u2028`...)
			default:
				b = append(b, `\u2029`...)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
