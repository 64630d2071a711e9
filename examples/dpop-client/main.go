// Command dpop-client calls a FAPI 2.0 resource behind Portcullis with a
// DPoP-bound access token (RFC 9449): every request carries
// "Authorization: DPoP <token>" and a fresh DPoP proof, a JWT signed with
// the client's private key whose public key is in its header and whose
// claims name the request (htm, htu), the moment (iat), a unique id (jti)
// and the token (ath). The gateway refuses the token without the proof,
// with a proof by another key, or with a proof it has seen before.
//
// With the demo (portcullis demo --credentials-out creds.json):
//
//	go run ./examples/dpop-client -credentials creds.json
//
// It reads fapi_base_url, ca_file, dpop_key and dpop_token from the file,
// calls GET /v1/fapi/accounts, and answers a use_dpop_nonce challenge once
// by retrying with the server's nonce.
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

type credentials struct {
	FAPIBaseURL string          `json:"fapi_base_url"`
	CAFile      string          `json:"ca_file"`
	DPoPKey     json.RawMessage `json:"dpop_key"`
	DPoPToken   string          `json:"dpop_token"`
}

func main() {
	path := flag.String("credentials", "creds.json", "the demo's --credentials-out file")
	resource := flag.String("path", "/v1/fapi/accounts", "the resource to GET")
	flag.Parse()
	if err := run(*path, *resource); err != nil {
		fmt.Fprintln(os.Stderr, "dpop-client:", err)
		os.Exit(1)
	}
}

func run(credsFile, resource string) error {
	var c credentials
	b, err := os.ReadFile(credsFile)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("%s: %w", credsFile, err)
	}
	var key jose.JSONWebKey
	if err := key.UnmarshalJSON(c.DPoPKey); err != nil {
		return fmt.Errorf("dpop_key: %w", err)
	}
	client, err := httpsClient(c.CAFile)
	if err != nil {
		return err
	}
	url := c.FAPIBaseURL + resource
	nonce := ""
	for attempt := 0; attempt < 2; attempt++ {
		proof, err := newProof(key, http.MethodGet, url, c.DPoPToken, nonce)
		if err != nil {
			return err
		}
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "DPoP "+c.DPoPToken)
		req.Header.Set("DPoP", proof)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		// RFC 9449 §8: the server wants its nonce in the proof; once.
		if n := resp.Header.Get("DPoP-Nonce"); resp.StatusCode == http.StatusUnauthorized && n != "" && nonce == "" {
			nonce = n
			continue
		}
		fmt.Printf("%s %d\nx-fapi-interaction-id: %s\n%s", resp.Proto, resp.StatusCode, resp.Header.Get("X-Fapi-Interaction-Id"), body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s (WWW-Authenticate: %s)", url, resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
		return nil
	}
	return fmt.Errorf("GET %s: the server kept asking for a new nonce", url)
}

// newProof signs a DPoP proof for one request with the client's key: its
// public half goes in the header (jwk), never the private one.
func newProof(key jose.JSONWebKey, method, url, token, nonce string) (string, error) {
	alg := jose.SignatureAlgorithm(key.Algorithm)
	if alg == "" {
		alg = jose.ES256
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key.Key}, opts)
	if err != nil {
		return "", err
	}
	ath := sha256.Sum256([]byte(token))
	claims := map[string]any{
		"jti": rand.Text(), // 128 random bits: never reused
		"htm": method,
		"htu": url, // without query or fragment
		"iat": time.Now().Unix(),
		"ath": base64.RawURLEncoding.EncodeToString(ath[:]),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

func httpsClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	// TLS 1.2 with ECDHE and AES-GCM, or TLS 1.3: what a FAPI listener
	// accepts.
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	}}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}, nil
}
