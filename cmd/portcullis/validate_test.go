package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
)

// validateEnv writes a certificate and sets the key secrets, and returns
// the certificate and key files.
func validateEnv(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	ca, err := pki.NewCA("validate test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "gw", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err = leaf.WriteFiles(dir, "gw")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PORTCULLIS_PEPPER", randB64(48))
	t.Setenv("PORTCULLIS_MASTER_KEY", "v1:"+randB64(32))
	return cert, key
}

// serveExits runs serve on cfg and returns its exit code and output; a
// config serve accepts would start, so SIGTERM is queued to stop it.
func serveExits(t *testing.T, cfg string) (int, string) {
	t.Helper()
	var out syncBuffer
	code := serve(cfg, &out, func() <-chan os.Signal {
		ch := make(chan os.Signal, 1)
		ch <- syscall.SIGTERM
		return ch
	})
	return code, out.String()
}

// validate accepts nothing serve refuses before binding, and reports it
// the way serve does: each case is checked through both commands.
func TestValidateChecksWhatServeChecks(t *testing.T) {
	dir := t.TempDir()
	cert, key := validateEnv(t, dir)
	base := func(extra string) string {
		return `
listeners:
  - name: public
    address: "127.0.0.1:18443"
    http_redirect: "127.0.0.1:18080"
    tls: {cert_file: "` + cert + `", key_file: "` + key + `"}
upstreams:
  - name: api
    targets: ["http://127.0.0.1:9"]
routes:
  - name: r
    prefix: /
    upstream: api
    auth: none
` + extra
	}
	tests := []struct {
		name, cfg, want string
	}{
		{"sqlite path in a missing directory", base(`
keys:
  store: {path: "` + dir + `/missing/keys.db"}
`), `keys.store.path: the directory ` + dir + `/missing does not exist`},
		{"sqlite path that is a directory", base(`
keys:
  store: {path: "` + dir + `"}
`), `keys.store.path: ` + dir + ` is not a regular file`},
		{"malformed postgres dsn", base(`
keys:
  store: {driver: postgres, dsn: "postgres://u:secret@db:notaport/x"}
`), `keys.store.dsn: cannot be parsed`},
		{"ops port equal to a listener's port", base(`
ops: {address: "0.0.0.0:18443"}
`), `ops.address: 0.0.0.0:18443 cannot be bound: listeners[0].address (127.0.0.1:18443) already takes port 18443 on that address`},
		{"ops address equal to a redirect listener's", base(`
ops: {address: "127.0.0.1:18080"}
`), `ops.address: 127.0.0.1:18080 cannot be bound: listeners[0].http_redirect (127.0.0.1:18080) already takes port 18080 on that address`},
		{"admin address equal to a redirect listener's", base(`
keys:
  store: {path: "` + dir + `/keys.db"}
admin:
  enabled: true
  address: "localhost:18080"
  tls: {cert_file: "` + cert + `", key_file: "` + key + `"}
`), `admin.address: localhost:18080 cannot be bound: listeners[0].http_redirect (127.0.0.1:18080) already takes port 18080 on that address`},
		{"admin certificate unreadable", base(`
keys:
  store: {path: "` + dir + `/keys.db"}
admin:
  enabled: true
  address: "127.0.0.1:0"
  tls: {cert_file: "` + dir + `/nope.crt", key_file: "` + key + `"}
`), `admin.tls: loading certificate ` + dir + `/nope.crt`},
		{"access log in a missing directory", base(`
logging:
  access: {enabled: true, output: "` + dir + `/logs/access.log"}
`), `logging.access.output: the directory ` + dir + `/logs does not exist`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "portcullis.yaml")
			if err := os.WriteFile(f, []byte(tc.cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := runCmd("validate", f)
			if code != 1 || !strings.Contains(stderr, "\n  "+tc.want) {
				t.Errorf("validate: exit %d, stderr:\n%s\nwant a line starting %q", code, stderr, tc.want)
			}
			if strings.Contains(stderr, "secret") {
				t.Errorf("validate printed the DSN's password:\n%s", stderr)
			}
			code, out := serveExits(t, f)
			if code != 1 || !strings.Contains(out, tc.want) {
				t.Errorf("serve: exit %d, output:\n%s\nwant %q", code, out, tc.want)
			}
		})
	}
}

// A file with mistakes at every stage (rules, secrets, certificates, the
// host) is reported in full by one run.
func TestValidateReportsEveryProblemInOneRun(t *testing.T) {
	dir := t.TempDir()
	cert, key := validateEnv(t, dir)
	t.Setenv("PORTCULLIS_MASTER_KEY", "")
	f := filepath.Join(dir, "portcullis.yaml")
	cfg := `
listeners:
  - name: public
    address: "0.0.0.0:18443"
    tls: {cert_file: "` + dir + `/missing.crt", key_file: "` + key + `"}
  - name: internal
    address: "127.0.0.1:18444"
    tls: {cert_file: "` + cert + `", key_file: "` + key + `", min_version: "1.1"}
ops:
  address: "127.0.0.1:18443"
upstreams:
  - name: api
    targets: ["ftp://127.0.0.1:9"]
routes:
  - name: r
    prefix: /
    upstream: apx
    auth: {authenticators: [keys]}
authenticators:
  - name: keys
    api_key: {}
keys:
  store: {path: "` + dir + `/nowhere/keys.db"}
  rotation_grace: 90d
`
	if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd("validate", "--config", f)
	want := f + `: 8 problem(s):
  listeners[1].tls.min_version: must be "1.2" or "1.3", got "1.1"
  upstreams[0].targets[0]: scheme must be http or https, got "ftp://127.0.0.1:9"
  routes[0].upstream: unknown upstream "apx"
  keys.rotation_grace: must be at most 30d
  ops.address: 127.0.0.1:18443 cannot be bound: listeners[0].address (0.0.0.0:18443) already takes port 18443 on that address
  keys.store.path: the directory ` + dir + `/nowhere does not exist (create it, owned by the gateway's user, mode 0700; systemd's StateDirectory= does)
  keys.master_key.env: environment variable PORTCULLIS_MASTER_KEY is not set
  listeners[0].tls: loading certificate ` + dir + `/missing.crt / key ` + key + `: open ` + dir + `/missing.crt: no such file or directory
`
	if code != 1 || stderr != want {
		t.Fatalf("exit %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
}
