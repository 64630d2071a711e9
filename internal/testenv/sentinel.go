package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Sentinel is a Redis Sentinel (redis-server --sentinel) started for one
// test on loopback, monitoring one primary with quorum 1 and fast failure
// detection, so a test can kill the primary and see a replica promoted.
type Sentinel struct {
	*Redis
}

// StartSentinel starts a sentinel monitoring the primary at addr under
// name, and waits until it answers PING.
func StartSentinel(t testing.TB, name, primaryAddr string) *Sentinel {
	t.Helper()
	bin := Binary(t, "redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server")
	dir := t.TempDir()
	port := FreePort(t)
	host, pport, err := net.SplitHostPort(primaryAddr)
	if err != nil {
		t.Fatal(err)
	}
	// Sentinel rewrites its configuration file, so it lives in the temp dir.
	conf := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile %s
sentinel monitor %s %s %s 1
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s 5000
sentinel parallel-syncs %s 1
`, port, dir, filepath.Join(dir, "sentinel.log"), name, host, pport, name, name, name)
	path := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Sentinel{Redis: &Redis{t: t, bin: bin, dir: dir, port: port}}
	cmd := exec.Command(bin, path, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis sentinel: %v", err)
	}
	s.cmd = cmd
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for s.ping() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "sentinel.log"))
			t.Fatalf("redis sentinel on %s did not become ready\n%s", s.Addr(), log)
		}
		time.Sleep(20 * time.Millisecond) // waiting on another process
	}
	return s
}

// Log is the sentinel's log, for failure messages.
func (s *Sentinel) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "sentinel.log"))
	return string(b)
}
