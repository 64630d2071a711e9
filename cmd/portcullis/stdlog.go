package main

import "log/slog"

// routeStdlog sends the standard library's log package into l, which
// redacts (observe.Redacting), at warn. net/http writes there where it has
// no ErrorLog to use: the Transport's "Unsolicited response received on
// idle HTTP channel" line quotes raw upstream bytes, and a server without
// an ErrorLog (the demo's upstream, a test issuer) quotes what clients
// sent. It is the one process-wide logging setting the binary makes, once,
// by the commands that serve traffic.
func routeStdlog(l *slog.Logger) {
	slog.SetLogLoggerLevel(slog.LevelWarn)
	slog.SetDefault(l)
}
