package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/demo"
	"github.com/portcullis/portcullis/internal/testenv"
)

// The example signs a transfer the demo accepts; the same transfer with a
// tampered signing key is refused.
func TestAgainstTheDemo(t *testing.T) {
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "creds.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		// Every listener on a free port: the defaults (8443, 8444, ...) may
		// be taken by another package's test running at the same time.
		done <- demo.Run(ctx, demo.Options{Addr: "127.0.0.1:0", FAPIAddr: "127.0.0.1:0", OpsAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
			DataDir: filepath.Join(dir, "data"), CredentialsOut: credsFile}, nil, &testenv.SyncBuffer{}, slog.New(slog.DiscardHandler))
	}()
	stopped := false
	defer func() {
		cancel()
		if !stopped {
			<-done
		}
	}()
	// The demo compiles the Core Rule Set and builds its stores before it
	// writes the credentials: under -race on a busy machine that takes
	// seconds (bounded: 60 s).
	var creds map[string]any
	for i := 0; i < 2400 && creds == nil; i++ {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("the demo stopped before writing its credentials: %v", err)
		default:
		}
		if b, err := os.ReadFile(credsFile); err == nil && json.Unmarshal(b, &creds) == nil {
			break
		}
		creds = nil
		time.Sleep(25 * time.Millisecond)
	}
	if creds == nil {
		t.Fatal("no credentials file after 60 s")
	}
	var out strings.Builder
	if err := run(credsFile, "25.00", &out); err != nil || !strings.HasPrefix(out.String(), "201 Created") ||
		!strings.Contains(out.String(), `"status": "accepted"`) {
		t.Fatalf("signed transfer: %v\n%s", err, out.String())
	}
	// Another Ed25519 key under the demo's keyid: the gateway refuses it.
	creds["signing_key"].(map[string]any)["d"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	b, _ := json.Marshal(creds)
	forged := filepath.Join(dir, "forged.json")
	if err := os.WriteFile(forged, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(forged, "25.00", &out); err == nil || !strings.HasPrefix(out.String(), "401 Unauthorized") {
		t.Fatalf("forged signature: %v\n%s", err, out.String())
	}
}
