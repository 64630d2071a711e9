package demo

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/internal/testenv"
	"github.com/portcullis/portcullis/internal/testissuer"
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
			Addr: "127.0.0.1:0", OpsAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", FAPIAddr: "127.0.0.1:0",
			DataDir: filepath.Join(dir, "data"), CredentialsOut: credsFile,
		}, nil, &stdout, slog.New(slog.DiscardHandler))
	}()
	creds := waitForCredentials(t, credsFile, done)
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
	// Payments: the contract holds after authorisation, so the read-only
	// token is refused whatever its body; the payments token's valid
	// example passes to the sample upstream, an invalid body does not.
	example, err := json.Marshal(creds.PaymentExample)
	if err != nil || creds.PaymentsToken == "" || len(creds.PaymentExample) != 3 {
		t.Fatalf("credentials lack payments_token or payment_example: %+v", creds)
	}
	paymentKeys := 0
	post := func(token, contentType, body string) (int, string) {
		req, _ := http.NewRequest("POST", creds.BaseURL+"/v1/payments", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", contentType)
		paymentKeys++ // every payment needs its own Idempotency-Key
		req.Header.Set("Idempotency-Key", fmt.Sprintf("validation-%d", paymentKeys))
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

	// The scripted credential stuffing burst of the welcome text, from
	// 127.0.0.2: blocked after five stolen tokens, listed by the admin API,
	// in the security log.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	attacker := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: dialer.DialContext}}
	defer attacker.CloseIdleConnections()
	blockedAt := 0
	// The detector runs off the request path: the burst paces itself, so
	// the block can land before the burst ends (bounded: 40 tries, 1s).
	for i := 1; i <= 40 && blockedAt == 0; i++ {
		if i > 1 {
			time.Sleep(25 * time.Millisecond)
		}
		req, _ := http.NewRequest("GET", creds.BaseURL+"/v1/accounts", nil)
		req.Header.Set("Authorization", fmt.Sprintf("Bearer stolen%d.token.sig", i))
		resp, err := attacker.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Logf("%d %s", resp.StatusCode, b)
		if resp.StatusCode == 403 && strings.Contains(string(b), "security-blocked") {
			blockedAt = i
		}
	}
	if blockedAt < 6 {
		time.Sleep(2 * time.Second)
		sl, _ := os.ReadFile(creds.SecurityLog)
		t.Fatalf("stuffing burst blocked at request %d, want after the fifth\n%s", blockedAt, sl)
	}
	req, _ := http.NewRequest("GET", creds.AdminURL+"/v1/security/blocks", nil)
	req.Header.Set("Authorization", "Bearer "+creds.AdminToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	blocks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(blocks), `"value":"127.0.0.2"`) {
		t.Fatalf("blocks: %d %s", resp.StatusCode, blocks)
	}
	for i := 0; i < 200; i++ {
		if b, _ := os.ReadFile(creds.SecurityLog); strings.Contains(string(b), `"detector":"credential_stuffing"`) {
			break
		}
		time.Sleep(25 * time.Millisecond) // flushed every second
	}
	if b, _ := os.ReadFile(creds.SecurityLog); !strings.Contains(string(b), `"type":"detection"`) {
		t.Fatalf("security log:\n%s", b)
	}
	if got := get(creds.BaseURL + "/v1/nope"); got != 404 {
		t.Fatalf("127.0.0.1 after the burst: %d", got)
	}
	if !strings.Contains(stdout.String(), "export CA="+creds.CAFile) {
		t.Errorf("welcome text lacks a working curl line:\n%s", stdout.String())
	}
	checkFAPI(t, client, creds)
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

// The generated secrets (pepper, master key, TLS key, key database) do not
// outlive the demo, unless the user chose where they go (--data-dir).
func TestDemoRemovesItsTempDir(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dataDir bool
		kept    bool
	}{
		{"temp dir", false, false},
		{"--data-dir", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			o := Options{Addr: "127.0.0.1:0", FAPIAddr: "127.0.0.1:0", OpsAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
				CredentialsOut: filepath.Join(t.TempDir(), "creds.json")}
			if tc.dataDir {
				o.DataDir = filepath.Join(tmp, "mine")
			}
			sigs := make(chan os.Signal, 1)
			done := make(chan error, 1)
			go func() { done <- Run(context.Background(), o, sigs, io.Discard, slog.New(slog.DiscardHandler)) }()
			var creds Credentials
			for i := 0; i < 400 && creds.CAFile == ""; i++ {
				if b, err := os.ReadFile(o.CredentialsOut); err == nil {
					_ = json.Unmarshal(b, &creds)
				}
				time.Sleep(25 * time.Millisecond)
			}
			if creds.CAFile == "" {
				t.Fatal("the demo did not start")
			}
			dir := filepath.Dir(creds.CAFile)
			if filepath.Dir(dir) != tmp {
				t.Fatalf("data dir %s is not in %s", dir, tmp)
			}
			sigs <- os.Interrupt // Ctrl-C
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("demo returned %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("demo did not stop")
			}
			_, err := os.Stat(dir)
			if kept := err == nil; kept != tc.kept {
				t.Fatalf("after Ctrl-C, %s exists = %v, want %v (stat: %v)", dir, kept, tc.kept, err)
			}
		})
	}
}

// checkFAPI calls the demo's FAPI route as the credentials file allows: with
// the DPoP key and the token bound to it, on the FAPI listener.
func checkFAPI(t *testing.T, client *http.Client, creds Credentials) {
	t.Helper()
	raw, err := json.Marshal(creds.DPoPKey)
	if err != nil {
		t.Fatal(err)
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil || jwk.IsPublic() || jwk.Algorithm != "ES256" {
		t.Fatalf("dpop_key is not a private ES256 JWK: %v %s", err, raw)
	}
	key := &testissuer.DPoPKey{Alg: jwk.Algorithm, Key: jwk.Key.(crypto.Signer)}
	url := creds.FAPIBaseURL + "/v1/fapi/accounts"
	call := func(base, scheme string, proof bool) (int, http.Header) {
		req, _ := http.NewRequest("GET", base+"/v1/fapi/accounts", nil)
		req.Header.Set("Authorization", scheme+" "+creds.DPoPToken)
		if proof {
			req.Header.Set("DPoP", key.Proof("GET", url, creds.DPoPToken, time.Now()))
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	tests := []struct {
		name   string
		base   string
		scheme string
		proof  bool
		want   int
	}{
		{"DPoP with a proof", creds.FAPIBaseURL, "DPoP", true, 200},
		{"DPoP-bound token as Bearer", creds.FAPIBaseURL, "Bearer", false, 401},
		{"DPoP without a proof", creds.FAPIBaseURL, "DPoP", false, 401},
		{"the default listener", creds.BaseURL, "DPoP", true, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h := call(tt.base, tt.scheme, tt.proof)
			if status != tt.want {
				t.Fatalf("status %d, want %d", status, tt.want)
			}
			if id := h.Get("X-Fapi-Interaction-Id"); len(id) != 36 {
				t.Fatalf("x-fapi-interaction-id %q", id)
			}
		})
	}
}
