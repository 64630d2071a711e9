// Package demo owns `portcullis demo`: a complete gateway that needs nothing
// but Go. It makes its own CA and certificates, runs a sample payments API as
// the upstream, writes a real configuration file and serves it, so a newcomer
// sees the product working in a minute. Its behaviour is a contract
// (DEMO-CONTRACT.md): scripts depend on it.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"text/template"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/server"
)

// Options are the demo's flags.
type Options struct {
	Addr           string // gateway listener, default 127.0.0.1:8443
	AdminAddr      string // admin API listener, default 127.0.0.1:9443
	OpsAddr        string // ops listener, default 127.0.0.1:9090
	DataDir        string // default: a new temp dir
	CredentialsOut string // optional JSON file
}

// Credentials is the JSON written to --credentials-out.
type Credentials struct {
	BaseURL string `json:"base_url"`
	CAFile  string `json:"ca_file"`
	OpsURL  string `json:"ops_url"`
}

// Run starts the demo and serves until ctx ends or a signal arrives on sigs.
func Run(ctx context.Context, o Options, sigs <-chan os.Signal, stdout io.Writer, log *slog.Logger) error {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8443"
	}
	if o.OpsAddr == "" {
		o.OpsAddr = "127.0.0.1:9090"
	}
	if o.AdminAddr == "" {
		o.AdminAddr = "127.0.0.1:9443"
	}
	if o.DataDir == "" {
		d, err := os.MkdirTemp("", "portcullis-demo-")
		if err != nil {
			return err
		}
		o.DataDir = d
	} else if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return err
	}

	ca, err := pki.NewCA("Portcullis Demo CA", 30*24*time.Hour)
	if err != nil {
		return fmt.Errorf("creating demo CA: %w", err)
	}
	caFile := filepath.Join(o.DataDir, "ca.crt")
	if err := ca.WriteFile(caFile); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "portcullis-demo", Hosts: uniq("127.0.0.1", "localhost", "::1", host)})
	if err != nil {
		return fmt.Errorf("issuing demo certificate: %w", err)
	}
	certFile, keyFile, err := leaf.WriteFiles(o.DataDir, "gateway")
	if err != nil {
		return err
	}

	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("starting sample upstream: %w", err)
	}
	upstream := &http.Server{Handler: paymentsAPI(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = upstream.Serve(upLn) }()
	defer upstream.Close()

	cfgFile := filepath.Join(o.DataDir, "portcullis.yaml")
	vars := map[string]string{
		"Addr": o.Addr, "OpsAddr": o.OpsAddr, "CertFile": certFile, "KeyFile": keyFile,
		"Upstream": "http://" + upLn.Addr().String(), "AccessLog": filepath.Join(o.DataDir, "access.log"),
	}
	if err := writeTemplate(cfgFile, configTemplate, vars); err != nil {
		return err
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	limits, err := ratelimit.NewStores(cfg.RateLimits.Store, ratelimit.Options{Log: log})
	if err != nil {
		return fmt.Errorf("demo rate limits: %w", err)
	}
	defer limits.Close()
	srv, err := server.New(cfg, server.Options{ConfigPath: cfgFile, Log: log,
		Deps: gateway.Deps{RateLimits: limits}, Collectors: limits.Collectors()})
	if err != nil {
		return fmt.Errorf("demo gateway: %w", err)
	}
	if err := srv.Start(); err != nil {
		return err
	}
	baseURL := "https://" + srv.Addr("public")
	creds := Credentials{BaseURL: baseURL, CAFile: caFile, OpsURL: "http://" + srv.Addr("ops")}
	if o.CredentialsOut != "" {
		if err := writeJSON(o.CredentialsOut, creds); err != nil {
			_ = srv.Shutdown(context.Background())
			return fmt.Errorf("--credentials-out: %w", err)
		}
	}
	printWelcome(stdout, creds, cfgFile, vars["AccessLog"])
	return srv.Run(ctx, sigs)
}

func uniq(ss ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func writeTemplate(path, tmpl string, vars map[string]string) error {
	t := template.Must(template.New("cfg").Parse(tmpl))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := t.Execute(f, vars); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeJSON writes atomically (temp file and rename), so a script polling
// for the file never reads half of it.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func printWelcome(w io.Writer, c Credentials, cfgFile, accessLog string) {
	fmt.Fprintf(w, `
Portcullis demo is running.

  gateway     %s   (TLS, certificate signed by %s)
  ops         %s/healthz  /readyz  /metrics
  config      %s
  access log  %s

Try it:

  curl --cacert %s %s/v1/accounts
  curl --cacert %s %s/v1/nope                  # 404 problem+json
  curl --cacert %s -X DELETE %s/v1/accounts    # 405 with Allow
  curl --cacert %s --path-as-is '%s/v1/../admin'  # 400: traversal is rejected
  curl %s/readyz

Rate limit (5 requests per 10 s on /v1/fx/rates; see the RateLimit headers, then a 429):

  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%%{http_code} ' --cacert %s %s/v1/fx/rates; done; echo
  curl -si --cacert %s %s/v1/fx/rates | grep -i -e ^ratelimit -e ^retry-after

Stop with Ctrl-C.
`, c.BaseURL, c.CAFile, c.OpsURL, cfgFile, accessLog,
		c.CAFile, c.BaseURL, c.CAFile, c.BaseURL, c.CAFile, c.BaseURL, c.CAFile, c.BaseURL, c.OpsURL,
		c.CAFile, c.BaseURL, c.CAFile, c.BaseURL)
}
