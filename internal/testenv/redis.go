package testenv

import (
	"bufio"
	"fmt"
	"io"
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
	// Cluster starts a one-node Redis Cluster that serves every slot, so
	// code can be run through a cluster client (slot routing, hash tags,
	// scripts confined to one slot) without a multi-node setup.
	Cluster bool
}

// Redis is a redis-server started for one test: loopback only, no
// persistence, in a temp dir, stopped when the test ends. Stop and Start
// let a test take it away and bring it back on the same port.
type Redis struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	bus  int // cluster bus port, when Cluster
	opts RedisOptions
	cmd  *exec.Cmd
}

// StartRedis starts redis-server (skipping, or failing in CI, when it is not
// installed) and waits until it answers PING.
func StartRedis(t testing.TB, opts RedisOptions) *Redis {
	t.Helper()
	bin := Binary(t, "redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server")
	r := &Redis{t: t, bin: bin, dir: t.TempDir(), port: FreePort(t), opts: opts}
	if opts.Cluster {
		// The default bus port (port+10000) may be taken or beyond 65535.
		r.bus = FreePort(t)
	}
	r.Start()
	t.Cleanup(r.Stop)
	if opts.Cluster {
		r.assignAllSlots()
	}
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
	if r.opts.Cluster {
		// nodes.conf lives in the temp dir, so a restarted node keeps its slots.
		args = append(args, "--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(r.bus),
			"--cluster-config-file", filepath.Join(r.dir, "nodes.conf"))
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

// assignAllSlots gives the one cluster node every slot and waits until the
// cluster reports itself ok.
func (r *Redis) assignAllSlots() {
	r.t.Helper()
	if reply, err := r.command("CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil || reply != "+OK" {
		r.t.Fatalf("CLUSTER ADDSLOTSRANGE: %q %v", reply, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := r.command("CLUSTER", "INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis cluster on %s did not become ok: %v\n%s", r.Addr(), err, info)
		}
		time.Sleep(20 * time.Millisecond) // waiting on another process: no clock to inject
	}
}

// command sends one command and returns its reply: a status or error line
// as is, a bulk string's contents.
func (r *Redis) command(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	br := bufio.NewReader(c)
	if r.opts.Password != "" {
		fmt.Fprintf(c, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(r.opts.Password), r.opts.Password)
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
			return "", fmt.Errorf("AUTH: %q %v", line, err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "$") {
		return line, nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 {
		return "", fmt.Errorf("unexpected reply %q", line)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(br, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
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
