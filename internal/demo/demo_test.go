package demo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testenv"
)

// TestDemo runs the demo as a user would and checks that it starts, serves
// and stops; .ci/demo-smoke checks every landed promise of docs/demo.md
// against the built binary.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "creds.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stdout testenv.SyncBuffer
	go func() {
		done <- Run(ctx, Options{
			Addr: "127.0.0.1:0", OpsAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
			DataDir: filepath.Join(dir, "data"), CredentialsOut: credsFile,
		}, nil, &stdout, slog.New(slog.DiscardHandler))
	}()
	var creds Credentials
	for i := 0; i < 200; i++ {
		if b, err := os.ReadFile(credsFile); err == nil && json.Unmarshal(b, &creds) == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if creds.BaseURL == "" {
		cancel()
		t.Fatalf("no credentials file; demo said: %v", <-done)
	}
	pem, err := os.ReadFile(creds.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()

	get := func(url string) int {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	checks := []struct {
		url  string
		want int
	}{
		{creds.OpsURL + "/healthz", 200},
		{creds.BaseURL + "/v1/nope", 404},
	}
	for _, c := range checks {
		if got := get(c.url); got != c.want {
			t.Errorf("GET %s = %d, want %d", c.url, got, c.want)
		}
	}
	// The WAF blocks an SQL injection in a query from a caller with valid
	// credentials, and lets ordinary requests through, on HTTP/1.1 and
	// HTTP/2.
	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer h2.CloseIdleConnections()
	for proto, c := range map[string]*http.Client{"HTTP/1.1": client, "HTTP/2": h2} {
		for _, wc := range []struct {
			name, path string
			want       int
		}{
			{"ordinary", "/v1/accounts", 200},
			{"ordinary query", "/v1/accounts?limit=10", 200},
			{"SQL injection", "/v1/accounts?iban=" + url.QueryEscape("x' OR '1'='1' --"), 403},
		} {
			req, _ := http.NewRequest("GET", creds.BaseURL+wc.path, nil)
			req.Header.Set("Authorization", "Bearer "+creds.Token)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", proto, wc.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != map[string]int{"HTTP/1.1": 1, "HTTP/2": 2}[proto] || resp.StatusCode != wc.want {
				t.Errorf("%s %s: %s %d %s", proto, wc.name, resp.Proto, resp.StatusCode, body)
				continue
			}
			if wc.want == 403 {
				want := `{"type":"https://portcullis.dev/problems/waf-blocked","title":"Forbidden","status":403,"detail":"The request was refused by the web application firewall.","request_id":"` + resp.Header.Get("X-Request-Id") + "\"}\n"
				if resp.Header.Get("Content-Type") != "application/problem+json" || string(body) != want {
					t.Errorf("%s %s: %q %s", proto, wc.name, resp.Header.Get("Content-Type"), body)
				}
			}
		}
	}
	if !strings.Contains(stdout.String(), "export CA="+creds.CAFile) {
		t.Errorf("welcome text lacks a working curl line:\n%s", stdout.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not stop")
	}
}
