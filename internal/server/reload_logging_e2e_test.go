package server_test

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/server"
	"github.com/portcullis/portcullis/internal/testenv"
)

// loggingReloadConfig is reloadConfig with a file access log and a log
// level to change.
var loggingReloadConfig = strings.Replace(reloadConfig, `logging:
  access:
    enabled: false
`, `logging:
  level: {{LEVEL}}
  access:
    output: "{{ACCESS}}"
    flush_interval: 10ms
    headers: [X-Partner-Ref]
{{REDACT}}
`, 1)

// A reload applies the access log's logged and redacted headers to the
// next request: a header made secret by a reload is never printed again.
func TestReloadChangesAccessLogRedaction(t *testing.T) {
	up := named(t, "A")
	vars := map[string]string{"UP": up.URL, "LEVEL": "info", "REDACT": ""}
	g := startGateway(t, loggingReloadConfig, vars)
	if resp, _ := g.get("/v1/accounts", "X-Partner-Ref", "ref-before"); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	vars["REDACT"] = "    redact_headers: [X-Partner-Ref]"
	doc := expand(loggingReloadConfig, vars, map[string]string{"CERT": g.dir + "/server.crt", "KEY": g.dir + "/server.key", "ACCESS": g.access})
	if err := os.WriteFile(g.cfgPath, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.srv.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if resp, _ := g.get("/v1/accounts", "X-Partner-Ref", "ref-after"); resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	var got []any
	for range 100 {
		lines := g.accessLines()
		if got = nil; len(lines) >= 2 {
			for _, l := range lines {
				got = append(got, l["header.X-Partner-Ref"])
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	want := []any{"ref-before", observe.Redacted}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("header.X-Partner-Ref per line = %v, want %v", got, want)
	}
}

// A reload changes the application log level without a restart, and says
// nothing about needing one.
func TestReloadChangesLogLevel(t *testing.T) {
	up := named(t, "A")
	dir := t.TempDir()
	_, cert, key := testPKI(t, dir)
	vars := map[string]string{"UP": up.URL, "CERT": cert, "KEY": key, "ACCESS": dir + "/access.log", "REDACT": ""}
	load := func(level string) *config.Config {
		vars["LEVEL"] = level
		path := dir + "/portcullis.yaml"
		if err := os.WriteFile(path, []byte(expand(loggingReloadConfig, vars)), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	var buf testenv.SyncBuffer
	log, level := observe.NewLoggerLevel(&buf, "info")
	srv, err := server.New(load("info"), server.Options{Log: log, LogLevel: level})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(t.Context()) })
	if log.Enabled(t.Context(), slog.LevelDebug) {
		t.Fatal("debug enabled at level info")
	}
	if err := srv.Reload(load("debug")); err != nil {
		t.Fatal(err)
	}
	if !log.Enabled(t.Context(), slog.LevelDebug) {
		t.Fatal("debug not enabled after a reload to level debug")
	}
	if err := srv.Reload(load("warn")); err != nil {
		t.Fatal(err)
	}
	if log.Enabled(t.Context(), slog.LevelInfo) {
		t.Fatal("info still enabled after a reload to level warn")
	}
	if out := buf.String(); strings.Contains(out, "needs a restart") {
		t.Fatalf("a level change was reported as needing a restart: %s", out)
	}
}
