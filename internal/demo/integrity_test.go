package demo

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/testenv"
)

// startDemo runs the demo until the test ends and returns its credentials
// and a client trusting its CA.
func startDemo(t *testing.T) (Credentials, *http.Client) {
	t.Helper()
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "creds.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var stdout testenv.SyncBuffer
	go func() {
		done <- Run(ctx, Options{Addr: "127.0.0.1:0", FAPIAddr: "127.0.0.1:0", OpsAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
			DataDir: filepath.Join(dir, "data"), CredentialsOut: credsFile}, nil, &stdout, slog.New(slog.DiscardHandler))
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("demo did not stop")
		}
	})
	creds := waitForCredentials(t, credsFile, done)
	pem, err := os.ReadFile(creds.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(client.CloseIdleConnections)
	return creds, client
}

// The demo's payments need an Idempotency-Key (replay, 409 is covered by
// the package tests, 422, 400) and its transfers a signature; the
// credentials carry what a client needs for both.
func TestDemoPaymentIntegrity(t *testing.T) {
	creds, client := startDemo(t)
	if creds.PaymentsToken == "" || creds.SigningKey == nil || creds.SigningKey.Kid == "" || creds.SigningKey.D == "" || creds.SigningKey.Crv != "Ed25519" {
		t.Fatalf("credentials lack payments_token or signing_key: %+v", creds)
	}
	post := func(path, key, body string) (int, http.Header, string) {
		req, _ := http.NewRequest("POST", creds.BaseURL+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+creds.PaymentsToken)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	// The body must also hold to the payments contract (docs/validation.md).
	example := `{"amount":"10.00","currency":"EUR","creditor_iban":"DE89370400440532013000"}`
	status, _, first := post("/v1/payments", "pay-001", example)
	if status != 201 {
		t.Fatalf("payment: %d %s", status, first)
	}
	status, h, again := post("/v1/payments", "pay-001", example)
	if status != 201 || h.Get("Idempotent-Replayed") != "true" || again != first {
		t.Fatalf("retried payment: %d %v %s", status, h, again)
	}
	cases := []struct {
		name, path, key, body string
		status                int
		problem               string
	}{
		{"reused key, other body", "/v1/payments", "pay-001", `{"amount":"99.00","currency":"EUR","creditor_iban":"DE89370400440532013000"}`, 422, "idempotency-key-mismatch"},
		{"no key", "/v1/payments", "", example, 400, "idempotency-key-missing"},
		{"unsigned transfer", "/v1/transfers", "", `{"amount":"10.00"}`, 401, "signature-missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := post(tc.path, tc.key, tc.body)
			var p struct{ Type string }
			_ = json.Unmarshal([]byte(body), &p)
			if status != tc.status || p.Type != "https://portcullis.dev/problems/"+tc.problem {
				t.Fatalf("%d %s", status, body)
			}
		})
	}
}
