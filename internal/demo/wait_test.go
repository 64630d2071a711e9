package demo

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

// waitForCredentials waits for the demo to write its credentials file. The
// demo compiles the Core Rule Set and builds its stores first, which takes
// seconds under -race on a busy machine, so the wait is long but bounded
// (60 s); a demo that stopped instead fails the test with its error, which
// is put back on done for whoever waits on it next.
func waitForCredentials(t *testing.T, credsFile string, done chan error) Credentials {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the demo stopped before writing its credentials: %v", err)
		default:
		}
		var creds Credentials
		if b, err := os.ReadFile(credsFile); err == nil && json.Unmarshal(b, &creds) == nil && creds.BaseURL != "" {
			return creds
		}
		time.Sleep(25 * time.Millisecond) // waiting on the demo's start: no event to wait on
	}
	t.Fatal("no credentials file after 60 s")
	return Credentials{}
}
