package observe

import (
	"io"
	"log/slog"
)

// NewLogger returns the application logger: JSON on w at level, every
// record redacted (see Redacting).
func NewLogger(w io.Writer, level string) *slog.Logger {
	l, _ := NewLoggerLevel(w, level)
	return l
}

// NewLoggerLevel is NewLogger with the level held in a LevelVar, so a
// configuration reload can change it (SetLevel).
func NewLoggerLevel(w io.Writer, level string) (*slog.Logger, *slog.LevelVar) {
	lv := new(slog.LevelVar)
	SetLevel(lv, level)
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv, ReplaceAttr: utcTime})
	return slog.New(Redacting(h)), lv
}

// SetLevel sets lv from a configured level name (validated at load time;
// anything else means info).
func SetLevel(lv *slog.LevelVar, level string) {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	lv.Set(l)
}
