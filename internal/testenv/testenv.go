// Package testenv owns what tests need from the machine: real servers
// (redis-server, postgres) started from the installed binaries on free
// loopback ports, in temp dirs, stopped when the test ends. Where a binary is
// missing the test is skipped with a loud reason, unless
// PORTCULLIS_REQUIRE_SERVICES=1 (set by CI), which turns the skip into a
// failure.
package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// RequireEnv is the variable that turns missing-binary skips into failures.
const RequireEnv = "PORTCULLIS_REQUIRE_SERVICES"

// Binary finds name on PATH or at one of the candidate paths (globs
// allowed). If none exists the test is skipped, or fails when RequireEnv=1.
func Binary(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, c := range candidates {
		matches, _ := filepath.Glob(c)
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && !fi.IsDir() {
				return m
			}
		}
	}
	msg := "SKIPPED FOR A MISSING BINARY: " + name + " is not installed (Debian: apt-get install -y the package providing it); this test needs the real server"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal(msg + " and " + RequireEnv + "=1")
	}
	t.Skip(msg)
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is "127.0.0.1:<port>".
func Addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
