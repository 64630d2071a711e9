// Package demo owns `portcullis demo`: a complete gateway that needs nothing
// but Go. It makes its own CA and certificates, runs a sample payments API as
// the upstream, writes a real configuration file and serves it, so a newcomer
// sees the product working in a minute. Its behaviour is a contract
// (docs/demo.md, checked by .ci/demo-smoke): scripts depend on it.
package demo

import (
	"context"
	_ "embed"
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

	"github.com/portcullis/portcullis/internal/app"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/testissuer"
)

// Options are the demo's flags.
type Options struct {
	Addr           string // gateway listener, default 127.0.0.1:8443
	FAPIAddr       string // gateway listener with the FAPI 2.0 TLS profile, default 127.0.0.1:8444
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
	// APIKey is a key of the demo consumer (header X-API-Key).
	APIKey string `json:"api_key"`
	// Token is a JWT access token with scope accounts:read from the demo's
	// own issuer.
	Token      string `json:"token"`
	AdminURL   string `json:"admin_url"`
	AdminToken string `json:"admin_token"`
	// SecurityLog is the security log (JSON lines).
	SecurityLog string `json:"security_log"`
	// PaymentsToken is a JWT with scopes accounts:read payments:write
	// (POST /v1/payments, /v1/transfers).
	PaymentsToken string `json:"payments_token"`
	// SigningKey is the demo consumer's private key (a JWK with its kid):
	// POST /v1/transfers must be signed with it (examples/signed-transfer).
	SigningKey *SigningJWK `json:"signing_key"`
	// FAPIBaseURL is the listener with the FAPI 2.0 TLS profile, which
	// serves GET /v1/fapi/accounts.
	FAPIBaseURL string `json:"fapi_base_url"`
	// DPoPKey is the demo client's private DPoP key, a JWK object (ES256).
	DPoPKey map[string]any `json:"dpop_key"`
	// DPoPToken is an access token (ES256, scope accounts:read) bound to
	// DPoPKey by cnf.jkt: it works only with a DPoP proof signed by it.
	DPoPToken string `json:"dpop_token"`
	// PaymentExample is a payment POST /v1/payments accepts with
	// PaymentsToken (the contract is internal/demo/openapi/payments.yaml).
	PaymentExample map[string]string `json:"payment_example"`
}

// paymentsSpec is the contract of POST /v1/payments, written to the data
// dir next to the configuration that names it.
//
//go:embed openapi/payments.yaml
var paymentsSpec []byte

// paymentExample is a valid payment: a decimal string amount, an ISO 4217
// currency and an IBAN whose check digits are right.
func paymentExample() map[string]string {
	return map[string]string{"amount": "10.00", "currency": "EUR", "creditor_iban": "DE89370400440532013000"}
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
	if o.FAPIAddr == "" {
		o.FAPIAddr = "127.0.0.1:8444"
	}
	if o.DataDir == "" {
		d, err := os.MkdirTemp("", "portcullis-demo-")
		if err != nil {
			return err
		}
		// It holds the pepper, the master key, the TLS key and the key
		// database: nothing of it may outlive the demo (Ctrl-C included,
		// which ends Run through sigs) unless the user chose the directory.
		defer os.RemoveAll(d)
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
	fapiHost, _, err := net.SplitHostPort(o.FAPIAddr)
	if err != nil {
		return fmt.Errorf("--fapi-addr: %w", err)
	}
	leaf, err := ca.Issue(pki.LeafOptions{CommonName: "portcullis-demo", Hosts: uniq("127.0.0.1", "localhost", "::1", host, fapiHost)})
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

	// The demo's token issuer: JWKS over HTTPS with a certificate from the
	// demo CA, so the gateway fetches keys exactly as from a real IdP.
	issuer, err := testissuer.New(testissuer.Options{CA: ca})
	if err != nil {
		return fmt.Errorf("starting demo token issuer: %w", err)
	}
	defer issuer.Close()
	token := issuer.Sign(issuer.Claims("payments-api", "demo-client", "accounts:read", time.Now(), 24*time.Hour))
	paymentsToken := issuer.Sign(issuer.Claims("payments-api", "demo-client", "accounts:read payments:write", time.Now(), 24*time.Hour))
	specFile := filepath.Join(o.DataDir, "payments-openapi.yaml")
	if err := os.WriteFile(specFile, paymentsSpec, 0o600); err != nil {
		return err
	}
	// The FAPI client: its own DPoP key, and a token bound to it, signed
	// with ES256 as FAPI 2.0 asks.
	dpopKey, err := testissuer.NewDPoPKey("ES256")
	if err != nil {
		return fmt.Errorf("demo DPoP key: %w", err)
	}
	dpopToken := issuer.SignWith(issuer.KidFor("ES256"),
		dpopKey.Bind(issuer.Claims("payments-api", "demo-fapi-client", "accounts:read", time.Now(), 24*time.Hour)), nil)

	cfgFile := filepath.Join(o.DataDir, "portcullis.yaml")
	vars := map[string]string{
		"Addr": o.Addr, "OpsAddr": o.OpsAddr, "CertFile": certFile, "KeyFile": keyFile,
		"Upstream": "http://" + upLn.Addr().String(), "AccessLog": filepath.Join(o.DataDir, "access.log"),
		"IssuerURL": issuer.URL(), "JWKSURL": issuer.JWKSURL(), "CAFile": caFile,
		"AdminAddr": o.AdminAddr, "FAPIAddr": o.FAPIAddr, "PaymentsSpec": specFile,
		"SecurityLog": filepath.Join(o.DataDir, "security.log"),
	}
	if err := keyFiles(o.DataDir, vars); err != nil {
		return fmt.Errorf("demo secrets: %w", err)
	}
	if err := writeTemplate(cfgFile, configTemplate, vars); err != nil {
		return err
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	// The same composition as `portcullis serve`: only the configuration
	// and the seeded credentials are the demo's own.
	p, err := app.Build(cfg, app.Options{ConfigPath: cfgFile, Log: log})
	if err != nil {
		return fmt.Errorf("demo gateway: %w", err)
	}
	defer p.Close()
	seededKeys, err := seed(ctx, p.Keys)
	if err != nil {
		return err
	}
	signingKey, err := seedSigning(ctx, p.Keys, issuer.URL(), "demo-client")
	if err != nil {
		return err
	}
	if err := p.Start(); err != nil {
		return err
	}
	srv := p.Server
	baseURL := "https://" + srv.Addr("public")
	creds := Credentials{BaseURL: baseURL, CAFile: caFile, OpsURL: "http://" + srv.Addr("ops"), Token: token,
		APIKey: seededKeys.apiKey, AdminURL: "https://" + p.Admin.Addr(), AdminToken: seededKeys.adminToken,
		PaymentsToken: paymentsToken, PaymentExample: paymentExample(), SigningKey: signingKey,
		FAPIBaseURL: "https://" + srv.Addr("fapi"), DPoPKey: dpopKey.PrivateJWK(), DPoPToken: dpopToken,
		SecurityLog: vars["SecurityLog"]}
	if o.CredentialsOut != "" {
		if err := writeJSON(o.CredentialsOut, creds); err != nil {
			return fmt.Errorf("--credentials-out: %w", err)
		}
	}
	printWelcome(stdout, creds, cfgFile, vars["AccessLog"], specFile)
	return p.Run(ctx, sigs)
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

// welcome is what a newcomer reads first: every line can be copied as is.
var welcome = template.Must(template.New("welcome").Parse(`
Portcullis demo is running.

  gateway     {{.C.BaseURL}}   (TLS, certificate signed by {{.C.CAFile}})
  ops         {{.C.OpsURL}}/healthz  /readyz  /metrics
  admin API   {{.C.AdminURL}}
  config      {{.Config}}
  access log  {{.AccessLog}}
  security log {{.C.SecurityLog}}

Try it. The API key and the token both carry scope accounts:read, not payments:write:

  export CA={{.C.CAFile}} BASE={{.C.BaseURL}}
  export API_KEY={{.C.APIKey}}
  export TOKEN={{.C.Token}}

  curl --cacert $CA -H "X-API-Key: $API_KEY" $BASE/v1/accounts          # 200
  curl --cacert $CA -H "Authorization: Bearer $TOKEN" $BASE/v1/accounts  # 200
  curl --cacert $CA -i $BASE/v1/accounts                                 # 401 + WWW-Authenticate
  curl --cacert $CA -i -H "Authorization: Bearer $TOKEN" -X POST -d '{"amount":"10.00"}' $BASE/v1/payments  # 403 insufficient_scope
  curl --cacert $CA $BASE/v1/nope                                        # 404 problem+json
  curl --cacert $CA -X DELETE $BASE/v1/accounts                          # 405 with Allow
  curl --cacert $CA --path-as-is "$BASE/v1/../admin"                     # 400: traversal is rejected
  curl --cacert $CA -H "X-API-Key: $API_KEY" "$BASE/v1/accounts?iban=x%27%20OR%20%271%27%3D%271%27%20--"  # 403 waf-blocked
  for i in 1 2 3 4 5 6; do curl --cacert $CA -s -o /dev/null -w '%{http_code} ' -H "X-API-Key: $API_KEY" $BASE/v1/fx/rates; done; echo
                                                    # 200 x5, then 429: 5 requests per 10 s per consumer
  curl --cacert $CA -i -H "X-API-Key: $API_KEY" $BASE/v1/fx/rates       # RateLimit-Policy and RateLimit headers
  curl {{.C.OpsURL}}/readyz

Payments (the second token carries payments:write; the body is checked against
{{.Spec}}, and a payment needs an Idempotency-Key; docs/validation.md,
docs/payment-integrity.md):

  export PAYMENTS_TOKEN={{.C.PaymentsToken}}
  curl --cacert $CA -i -H "Authorization: Bearer $PAYMENTS_TOKEN" -H "Idempotency-Key: pay-001" \
    -H "Content-Type: application/json" -d '{{.Example}}' $BASE/v1/payments
                                                    # 201; again: the same answer, Idempotent-Replayed: true
  curl --cacert $CA -i -H "Authorization: Bearer $PAYMENTS_TOKEN" -H "Idempotency-Key: pay-002" \
    -H "Content-Type: application/json" \
    -d '{"amount":"10.001","currency":"XXX","creditor_iban":"DE89370400440532013001"}' $BASE/v1/payments
                                                    # 400: errors lists /amount, /creditor_iban, /currency
  curl --cacert $CA -i -H "Authorization: Bearer $PAYMENTS_TOKEN" -H "Idempotency-Key: pay-003" \
    -H "Content-Type: text/plain" -d '{{.Example}}' $BASE/v1/payments  # 415: JSON sent as text/plain is refused
  go run ./examples/signed-transfer --credentials <the --credentials-out file>   # 201: a signed POST /v1/transfers

FAPI 2.0 (DPoP-bound token, TLS 1.2 with ECDHE and AES-GCM only, x-fapi-interaction-id):

  curl --cacert $CA -i {{.C.FAPIBaseURL}}/v1/fapi/accounts    # 401: DPoP challenge
  go run ./examples/dpop-client -credentials <the --credentials-out file>   # 200 with a DPoP proof

The admin API issues and revokes keys:

  export PORTCULLIS_ADMIN_URL={{.C.AdminURL}} PORTCULLIS_ADMIN_CA=$CA
  export PORTCULLIS_ADMIN_TOKEN={{.C.AdminToken}}
  go run ./cmd/portcullis consumers list
  go run ./cmd/portcullis keys create --consumer <id from the list> --scope accounts:read
  go run ./cmd/portcullis keys revoke <key id>      # the key stops at once

The web console (same admin token, docs/console.md): {{.C.AdminURL}}/console/

Credential stuffing is detected and answered: five stolen tokens tried from one
address block it (the burst comes from 127.0.0.2, so 127.0.0.1 stays usable):

  for i in 1 2 3 4 5 6 7; do curl --interface 127.0.0.2 --cacert $CA -s -o /dev/null -w '%{http_code} ' -H "Authorization: Bearer stolen$i.token.sig" $BASE/v1/accounts; done; echo
                                                    # 401 x5, then 403: the address is blocked
  curl --interface 127.0.0.2 --cacert $CA -H "X-API-Key: $API_KEY" $BASE/v1/accounts   # 403 security-blocked, even with a valid key
  curl --cacert $CA -H "X-API-Key: $API_KEY" $BASE/v1/accounts                         # 200 from 127.0.0.1
  curl --cacert $CA -H "Authorization: Bearer $PORTCULLIS_ADMIN_TOKEN" $PORTCULLIS_ADMIN_URL/v1/security/blocks
  grep '"type":"detection"' {{.C.SecurityLog}}
  go run ./cmd/portcullis security blocks list      # and: security blocks lift <id>

Stop with Ctrl-C.
`))

func printWelcome(w io.Writer, c Credentials, cfgFile, accessLog, specFile string) {
	example, _ := json.Marshal(c.PaymentExample)
	_ = welcome.Execute(w, map[string]any{"C": c, "Config": cfgFile, "AccessLog": accessLog, "Spec": specFile, "Example": string(example)})
}
