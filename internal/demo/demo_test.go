package demo

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
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
	// Payments: the contract holds after authorisation, so the read-only
	// token is refused whatever its body; the payments token's valid
	// example passes to the sample upstream, an invalid body does not.
	example, err := json.Marshal(creds.PaymentExample)
	if err != nil || creds.PaymentsToken == "" || len(creds.PaymentExample) != 3 {
		t.Fatalf("credentials lack payments_token or payment_example: %+v", creds)
	}
	post := func(token, contentType, body string) (int, string) {
		req, _ := http.NewRequest("POST", creds.BaseURL+"/v1/payments", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", contentType)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST /v1/payments: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	payments := []struct {
		name, token, contentType, body string
		want                           int
		wantIn                         string
	}{
		{"valid", creds.PaymentsToken, "application/json", string(example), 201, `"status": "accepted"`},
		{"read-only token", creds.Token, "application/json", string(example), 403, "insufficient-scope"},
		{"read-only token, invalid body", creds.Token, "application/json", `{"amount":1}`, 403, "insufficient-scope"},
		{"invalid body", creds.PaymentsToken, "application/json", `{"amount":"10.001","currency":"XXX","creditor_iban":"DE89370400440532013001"}`, 400,
			`"errors":[{"pointer":"/amount","reason":"does not match the pattern"},{"pointer":"/creditor_iban","reason":"is not a valid iban"},{"pointer":"/currency","reason":"is not one of the allowed values"}]`},
		{"JSON as text/plain", creds.PaymentsToken, "text/plain", string(example), 415, "unsupported-media-type"},
	}
	for _, p := range payments {
		if got, body := post(p.token, p.contentType, p.body); got != p.want || !strings.Contains(body, p.wantIn) {
			t.Errorf("payment %s: %d %s, want %d with %s", p.name, got, body, p.want, p.wantIn)
		}
	}
	if !strings.Contains(stdout.String(), "export PAYMENTS_TOKEN="+creds.PaymentsToken) {
		t.Errorf("welcome text lacks the payments token:\n%s", stdout.String())
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
