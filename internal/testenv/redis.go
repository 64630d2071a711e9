package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisOptions configure StartRedis.
type RedisOptions struct {
	// Password sets requirepass ("" for none).
	Password string
	// ReplicaOf makes the server a replica of this "127.0.0.1:<port>".
	ReplicaOf string
}

// Redis is a redis-server started for one test: loopback only, no
// persistence, in a temp dir, stopped when the test ends. Stop and Start
// let a test take it away and bring it back on the same port.
type Redis struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	opts RedisOptions
	cmd  *exec.Cmd
}

// StartRedis starts redis-server (skipping, or failing in CI, when it is not
// installed) and waits until it answers PING.
func StartRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	bin := Binary(t, "redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server")
	r := &Redis{t: t, bin: bin, dir: t.TempDir(), port: FreePort(t), opts: opts}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Addr is the server's "127.0.0.1:<port>".
func (r *Redis) Addr() string { return Addr(r.port) }

// Start (re)starts the server on its port. It fails the test if the server
// does not answer within 10 seconds.
func (r *Redis) Start() {
	r.t.Helper()
	if r.cmd != nil {
		return
	}
	args := []string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--logfile", filepath.Join(r.dir, "redis.log"),
	}
	if r.opts.Password != "" {
		args = append(args, "--requirepass", r.opts.Password)
	}
	if host, port, ok := strings.Cut(r.opts.ReplicaOf, ":"); ok {
		args = append(args, "--replicaof", host, port)
	}
	cmd := exec.Command(r.bin, args...)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("starting redis-server: %v", err)
	}
	r.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := r.ping()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			r.Stop()
			r.t.Fatalf("redis-server on %s did not become ready: %v\n%s", r.Addr(), err, log)
		}
		time.Sleep(20 * time.Millisecond) // waiting on another process: no clock to inject
	}
}

// Stop kills the server (like a crash: no graceful shutdown) and waits for
// it to exit. Stopping a stopped server does nothing.
func (r *Redis) Stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// ping sends one PING (after AUTH when a password is set).
func (r *Redis) ping() error {
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	br := bufio.NewReader(c)
	if r.opts.Password != "" {
		fmt.Fprintf(c, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(r.opts.Password), r.opts.Password)
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			return fmt.Errorf("AUTH: %q %v", line, err)
		}
	}
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}
