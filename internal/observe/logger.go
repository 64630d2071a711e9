package observe

import (
	"io"
	"log/slog"
)

// NewLogger returns the application logger: JSON on w at level.
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: utcTime}))
}
