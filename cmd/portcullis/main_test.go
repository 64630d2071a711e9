package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte(`
listeners:
  - address: "127.0.0.1:8443"
    tls:
      cert_file: /nonexistent/server.crt
      key_file: /nonexistent/server.key
upstreams:
  - name: payments
    targets: ["http://127.0.0.1:9000"]
routes:
  - name: pay
    path: /v1/payments
    upstream: paymnets
    auth: none
  - name: acc
    path: /v1/accounts
    upstream: payments
`), 0o600)
	// One run reports the rule problems and, past them, the certificate
	// serve could not load (validate used to stop after the rules).
	code, _, stderr := runCmd("validate", "--config", bad)
	want := bad + `: 3 problem(s):
  routes[0].upstream: unknown upstream "paymnets"
  routes[1].auth: is required: name authenticators, or write "auth: none" to make the route public on purpose
  listeners[0].tls: loading certificate /nonexistent/server.crt / key /nonexistent/server.key: open /nonexistent/server.crt: no such file or directory
`
	if code != 1 || stderr != want {
		t.Fatalf("exit %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}

	// A config that parses but cannot be built (missing certificate files)
	// is also reported, with its path.
	_ = os.WriteFile(bad, []byte(`
listeners:
  - address: "127.0.0.1:8443"
    tls:
      cert_file: /nonexistent/server.crt
      key_file: /nonexistent/server.key
upstreams:
  - name: payments
    targets: ["http://127.0.0.1:9000"]
routes:
  - name: pay
    path: /v1/payments
    upstream: payments
    auth: none
`), 0o600)
	code, _, stderr = runCmd("validate", "--config", bad)
	if code != 1 || !strings.Contains(stderr, "listeners[0].tls: loading certificate /nonexistent/server.crt") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestVersionCommand(t *testing.T) {
	code, out, _ := runCmd("version")
	if code != 0 || !strings.HasPrefix(out, "portcullis ") || !strings.Contains(out, "go: go1.") || !strings.Contains(out, "modules:") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	if code, _, stderr := runCmd("frobnicate"); code != 2 || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
