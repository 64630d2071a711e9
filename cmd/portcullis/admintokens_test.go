package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/gatewaytest"
	"github.com/portcullis/portcullis/internal/keys"
)

// The admin tokens and audit commands, and the hints on the usual
// mistakes, against a running admin API. Rows run in order: later rows use
// what earlier ones created, and the last one earns an authentication block.
func TestAdminTokensAndAuditCommands(t *testing.T) {
	dir := t.TempDir()
	cfgFile, caFile := cliConfig(t, dir, `
  store:
    path: "`+filepath.Join(dir, "keys.db")+`"`, true)
	t.Setenv("PORTCULLIS_PEPPER", randB64(40))
	t.Setenv("PORTCULLIS_MASTER_KEY", "v1:"+randB64(32))
	code, token, errOut := runCmd("admin", "bootstrap", "--config", cfgFile)
	if code != 0 {
		t.Fatalf("bootstrap: %d %s", code, errOut)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	one := 1
	cfg.Admin.AuthFailureThreshold = &one
	svc, err := keys.Open(context.Background(), cfg.Keys, os.LookupEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	// A fixed clock makes the block's Retry-After exact.
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	adm, err := admin.New(cfg.Admin, admin.Deps{Keys: svc, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := adm.Start(); err != nil {
		t.Fatal(err)
	}
	defer adm.Shutdown(context.Background())

	// A real gateway, its public port proxying to an upstream (which would
	// answer 200 to anything) and its ops port (plain HTTP).
	genv := gatewaytest.NewEnv(t)
	gw := genv.Start(t, strings.Replace(genv.Base("none"), "ops:\n  disabled: true", "ops:\n  address: \"127.0.0.1:0\"", 1)+`
routes:
  - name: api
    prefix: /
    upstream: echo
    auth: none
`, gateway.Deps{})
	opsURL := "https://" + gw.Server.Addr("ops")

	adminURL := "https://" + adm.Addr()
	t.Setenv("PORTCULLIS_ADMIN_URL", adminURL)
	t.Setenv("PORTCULLIS_ADMIN_CA", caFile)
	t.Setenv("PORTCULLIS_ADMIN_TOKEN", strings.TrimSpace(token))

	var created keys.IssuedToken
	type row struct {
		name     string
		setup    func(t *testing.T)
		env      map[string]string
		args     func() []string
		wantCode int
		wantOut  string // exact, unless check is set
		check    func(t *testing.T, out string)
		wantErr  string // exact
	}
	args := func(a ...string) func() []string { return func() []string { return a } }
	rows := []row{
		{name: "help", args: args("admin", "tokens", "--help"), wantOut: adminUsage},
		{name: "create help", args: args("admin", "tokens", "create", "--help"), check: func(t *testing.T, out string) {
			if !strings.HasPrefix(out, adminUsage) || !strings.Contains(out, "-role string") {
				t.Errorf("out = %q", out)
			}
		}},
		{name: "unknown flag", args: args("admin", "tokens", "list", "--frob"), wantCode: 2,
			wantErr: "flag provided but not defined: -frob\nRun \"portcullis admin tokens list --help\" for its usage.\n"},
		{name: "unknown verb", args: args("admin", "tokens", "frob"), wantCode: 2,
			wantErr: "unknown admin tokens command \"frob\"\n\n" + adminUsage},
		{name: "revoke without id", args: args("admin", "tokens", "revoke"), wantCode: 2,
			wantErr: "missing argument\n" + adminUsage + "\nFlags:\n" + flagsOf(t, "admin", "tokens", "revoke")},
		{name: "create without role", args: args("admin", "tokens", "create", "--name", "ops"), wantCode: 2,
			wantErr: "--name and --role are required\n"},
		{name: "create", args: args("admin", "tokens", "create", "--name", "ops-oncall", "--role", "operator", "--expires-in", "720h"),
			wantErr: "The token's secret is shown once, above: store it now.\n", check: func(t *testing.T, out string) {
				if err := json.Unmarshal([]byte(out), &created); err != nil {
					t.Fatal(err)
				}
				if created.Token.Name != "ops-oncall" || created.Token.Role != "operator" || !strings.HasPrefix(created.Secret, "pcl_admin_") {
					t.Errorf("created = %+v", created.Token)
				}
			}},
		{name: "create invalid role", args: args("admin", "tokens", "create", "--name", "x", "--role", "root"), wantCode: 1,
			wantErr: "admin API: 400 Bad Request: The request has invalid fields.\n  role: must be admin, operator or auditor\n"},
		{name: "list", args: args("admin", "tokens", "list"), check: func(t *testing.T, out string) {
			var l struct{ Data []keys.AdminToken }
			if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Data) != 2 {
				t.Errorf("list = %v %s", err, out)
			}
		}},
		{name: "revoke", args: func() []string { return []string{"admin", "tokens", "revoke", created.Token.ID} }, check: func(t *testing.T, out string) {
			var r keys.AdminToken
			if err := json.Unmarshal([]byte(out), &r); err != nil || r.ID != created.Token.ID || r.RevokedAt.IsZero() {
				t.Errorf("revoke = %v %s", err, out)
			}
		}},
		{name: "audit verify", args: args("audit", "verify"), check: func(t *testing.T, out string) {
			var v struct {
				OK       bool  `json:"ok"`
				Verified int64 `json:"events_verified"`
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil || !v.OK || v.Verified != 5 {
				t.Errorf("verify = %v %s", err, out)
			}
		}},
		{name: "audit verify: tampered", setup: func(t *testing.T) {
			// Someone with the database drops the append-only triggers and
			// rewrites what the new token was allowed.
			db := svc.Store().(interface{ DB() *sql.DB }).DB()
			for _, q := range []string{`DROP TRIGGER audit_events_no_update`,
				`UPDATE audit_events SET outcome = 'denied' WHERE action = 'admin_token.create'`} {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
		}, args: args("audit", "verify"), wantCode: 1, wantErr: "audit chain does not verify: event 2 was altered\n", check: func(t *testing.T, out string) {
			var v struct {
				OK      bool   `json:"ok"`
				Problem string `json:"problem"`
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil || v.OK || v.Problem == "" {
				t.Errorf("verify = %v %s", err, out)
			}
		}},
		{name: "audit help", args: args("audit", "--help"), wantOut: auditUsage},
		{name: "audit verify surplus", args: args("audit", "verify", "now"), wantCode: 2,
			wantErr: "unexpected argument \"now\"\n" + auditUsage + "\nFlags:\n" + flagsOf(t, "audit", "verify")},
		{name: "audit verify help", args: args("audit", "verify", "--help"), wantOut: auditUsage + "\nFlags:\n" + flagsOf(t, "audit", "verify")},
		{name: "audit verify unknown flag", args: args("audit", "verify", "--json"), wantCode: 2,
			wantErr: "flag provided but not defined: -json\nRun \"portcullis audit verify --help\" for its usage.\n"},
		{name: "audit unknown", args: args("audit", "list"), wantCode: 2, wantErr: "unknown audit command \"list\"\n\n" + auditUsage},
		{name: "no CA", env: map[string]string{"PORTCULLIS_ADMIN_CA": ""}, args: args("audit", "verify"), wantCode: 1,
			wantErr: "admin API: the admin listener's certificate is not signed by a CA this command trusts;\n" +
				"pass the CA that issued it with --ca-file FILE (or PORTCULLIS_ADMIN_CA=FILE)\n"},
		{name: "missing CA file", args: args("admin", "tokens", "list", "--ca-file", filepath.Join(dir, "nope.crt")), wantCode: 2,
			wantErr: "--ca-file (PORTCULLIS_ADMIN_CA): open " + filepath.Join(dir, "nope.crt") + ": no such file or directory\n"},
		{name: "public port", env: map[string]string{"PORTCULLIS_ADMIN_URL": gw.URL, "PORTCULLIS_ADMIN_CA": genv.CAFile},
			args: args("admin", "tokens", "list"), wantCode: 1,
			wantErr: "admin API: " + gw.URL + " answered 200 but is not the Portcullis admin API (is it the gateway's public port?);\n" +
				"point --admin-url (or PORTCULLIS_ADMIN_URL) at admin.address, default https://127.0.0.1:9443\n"},
		{name: "ops port", args: args("audit", "verify", "--admin-url", opsURL), wantCode: 1,
			wantErr: "admin API: the address does not speak TLS (is it the ops port?);\n" +
				"point --admin-url (or PORTCULLIS_ADMIN_URL) at admin.address, default https://127.0.0.1:9443\n"},
		{name: "bad token", env: map[string]string{"PORTCULLIS_ADMIN_TOKEN": "pcl_admin_AAAAAAAAAAAA_nope"}, args: args("admin", "tokens", "list"), wantCode: 1,
			wantErr: "admin API: 401 Unauthorized: The admin token is invalid.\n"},
		{name: "blocked: when to retry", args: args("admin", "tokens", "list"), wantCode: 1,
			wantErr: "admin API: 429 Too Many Requests: Too many failed authentication attempts; try again later.\nretry in 60 seconds (Retry-After)\n"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			if r.setup != nil {
				r.setup(t)
			}
			for k, v := range r.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCmd(r.args()...)
			if code != r.wantCode || errOut != r.wantErr {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", code, errOut, r.wantCode, r.wantErr)
			}
			if r.check != nil {
				r.check(t, out)
			} else if out != r.wantOut {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, r.wantOut)
			}
		})
	}
}

// flagsOf is the flag list a command's usage prints.
func flagsOf(t *testing.T, args ...string) string {
	t.Helper()
	_, out, _ := runCmd(append(args, "--help")...)
	_, flags, ok := strings.Cut(out, "\nFlags:\n")
	if !ok {
		t.Fatalf("%v --help printed no flags: %s", args, out)
	}
	return flags
}
