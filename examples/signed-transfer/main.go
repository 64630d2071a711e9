// Command signed-transfer sends one transfer to the Portcullis demo, signed
// as POST /v1/transfers requires: an HTTP message signature (RFC 9421,
// Ed25519) over the method, the target URI, Content-Digest (RFC 9530) and
// Content-Type, with created, keyid and a fresh nonce, next to the bearer
// token. It reads what it needs from the demo's credentials file
// (portcullis demo --credentials-out FILE): base_url, ca_file,
// payments_token and signing_key, the consumer's private key as a JWK.
//
// It uses the standard library only, so the signing steps are all here.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

type credentials struct {
	BaseURL       string `json:"base_url"`
	CAFile        string `json:"ca_file"`
	PaymentsToken string `json:"payments_token"`
	SigningKey    struct {
		Crv, D, Kid string
	} `json:"signing_key"`
}

func main() {
	credsFile := flag.String("credentials", "creds.json", "the demo's --credentials-out file")
	amount := flag.String("amount", "25.00", "amount to transfer")
	flag.Parse()
	if err := run(*credsFile, *amount, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "signed-transfer:", err)
		os.Exit(1)
	}
}

func run(credsFile, amount string, out io.Writer) error {
	b, err := os.ReadFile(credsFile)
	if err != nil {
		return err
	}
	var c credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	seed, err := base64.RawURLEncoding.DecodeString(c.SigningKey.D)
	if err != nil || c.SigningKey.Crv != "Ed25519" || len(seed) != ed25519.SeedSize {
		return errors.New("signing_key is not an Ed25519 private JWK")
	}
	key := ed25519.NewKeyFromSeed(seed)

	body := []byte(`{"from":"acc_1001","to":"acc_1002","amount":"` + amount + `","currency":"EUR"}`)
	req, err := http.NewRequest(http.MethodPost, c.BaseURL+"/v1/transfers", bytes.NewReader(body))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	req.Header.Set("Authorization", "Bearer "+c.PaymentsToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")

	// The signature base (RFC 9421 Section 2.5): one line per covered
	// component, then @signature-params, which is also Signature-Input.
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	params := `("@method" "@target-uri" "content-digest" "content-type");created=` +
		strconv.FormatInt(time.Now().Unix(), 10) + `;keyid="` + c.SigningKey.Kid + `";nonce="` +
		base64.RawURLEncoding.EncodeToString(nonce) + `"`
	base := `"@method": ` + req.Method + "\n" +
		`"@target-uri": ` + req.URL.String() + "\n" +
		`"content-digest": ` + req.Header.Get("Content-Digest") + "\n" +
		`"content-type": ` + req.Header.Get("Content-Type") + "\n" +
		`"@signature-params": ` + params
	req.Header.Set("Signature-Input", "sig1="+params)
	req.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(base)))+":")

	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	fmt.Fprintf(out, "%s\n%s", resp.Status, answer)
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("the gateway answered %s", resp.Status)
	}
	return nil
}
