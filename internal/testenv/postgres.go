package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a real PostgreSQL server for one test binary: started on first
// use (initdb in a temp dir, a free loopback port, its unix socket in the
// temp dir), shared by the package's tests, each of which gets a fresh
// database. Create one in TestMain and Stop it after m.Run:
//
//	var pg = testenv.NewPostgres()
//	func TestMain(m *testing.M) { code := m.Run(); pg.Stop(); os.Exit(code) }
//
// initdb and postgres refuse to run as root, so when the tests run as root
// (as here and in CI) the server runs as the "postgres" user created by the
// Debian package, in a directory under /tmp chowned to it.
type Postgres struct {
	mu      sync.Mutex
	started bool
	err     error
	dir     string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{}
	dbs     int
}

// NewPostgres returns a server that starts on the first Database call.
func NewPostgres() *Postgres { return &Postgres{} }

var pgCandidates = []string{"/usr/lib/postgresql/*/bin/"}

func pgBinary(t testing.TB, name string) string {
	t.Helper()
	var cands []string
	for _, c := range pgCandidates {
		cands = append(cands, c+name)
	}
	return Binary(t, name, cands...)
}

// Database creates a new empty database for t, dropped when t ends, and
// returns its connection string.
func (p *Postgres) Database(t testing.TB) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		postgres := pgBinary(t, "postgres")
		initdb := pgBinary(t, "initdb")
		p.started = true
		p.err = p.start(initdb, postgres)
	}
	if p.err != nil {
		t.Fatalf("postgres test server: %v", p.err)
	}
	p.dbs++
	name := fmt.Sprintf("t%d_%d", os.Getpid(), p.dbs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.admin(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.admin(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping database %s: %v", name, err)
		}
	})
	return p.DSN(name)
}

// DSN is the connection string of database name on this server.
func (p *Postgres) DSN(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, name)
}

// Port is the server's TCP port (valid after the first Database call).
func (p *Postgres) Port() int { return p.port }

func (p *Postgres) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func (p *Postgres) start(initdb, postgres string) error {
	dir, err := os.MkdirTemp("/tmp", "portcullis-pg-")
	if err != nil {
		return err
	}
	p.dir = dir
	cred, err := serviceCredential(dir)
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	logFile := filepath.Join(dir, "postgres.log")
	init := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C")
	init.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	init.Env = append(os.Environ(), "LC_ALL=C")
	init.Dir = dir
	if out, err := init.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	for attempt := 0; attempt < 3; attempt++ {
		p.port = freePort()
		if err = p.run(postgres, data, logFile, cred); err == nil {
			return nil
		}
	}
	log, _ := os.ReadFile(logFile)
	return fmt.Errorf("%v\n%s", err, log)
}

func (p *Postgres) run(postgres, data, logFile string, cred *syscall.Credential) error {
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := exec.Command(postgres, "-D", data, "-p", strconv.Itoa(p.port), "-h", "127.0.0.1", "-k", p.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Dir = p.dir
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, p.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			p.cmd, p.exited = cmd, exited
			return nil
		}
		select {
		case <-exited:
			return errors.New("postgres exited during startup")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("postgres did not accept connections within 30s: %v", err)
		}
	}
}

// serviceCredential is nil when not root; as root it is the postgres user's,
// and dir is handed to that user.
func serviceCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres user (apt-get install postgresql): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Stop shuts the server down (fast shutdown) and removes its directory.
func (p *Postgres) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		p.cmd = nil
	}
	if p.dir != "" {
		_ = os.RemoveAll(p.dir)
		p.dir = ""
	}
}

// RunStopping runs a package's tests and then stops pg (if a test started
// it): the body of TestMain in packages that share one server.
func RunStopping(m *testing.M, pg *Postgres) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}
