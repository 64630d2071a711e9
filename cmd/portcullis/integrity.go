package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
)

// The payment-integrity commands: consumers' message-signing keys, the
// mapping of token clients to consumers, and idempotency keys left in
// doubt. Like keys and consumers, they call the admin API, so every change
// is authorised and audited by the running gateway.

const signingKeysUsage = `Usage:
  portcullis signing-keys add    --consumer ID --jwk FILE [--key-id K] [--expires-at RFC3339]
  portcullis signing-keys list   --consumer ID [--limit N] [--cursor C]
  portcullis signing-keys get    ID
  portcullis signing-keys rotate ID --jwk FILE [--key-id K] [--grace 24h] [--expires-at RFC3339]
  portcullis signing-keys revoke ID

--jwk is a file holding the consumer's PUBLIC key as a JWK (OKP Ed25519,
EC P-256 or RSA); --key-id defaults to its kid. Admin API flags and
environment: see "portcullis keys --help".
`

const identitiesUsage = `Usage:
  portcullis identities add    --consumer ID --issuer ISS --client-id CLIENT
  portcullis identities list   --consumer ID [--limit N] [--cursor C]
  portcullis identities delete ID

A token caller (JWT, introspection) is the token's client (client_id/azp),
not a consumer of the key store; its message signatures are verified with
the signing keys of the consumer its (issuer, client) is mapped to.
`

const idempotencyUsage = `Usage:
  portcullis idempotency lookup  --consumer C [--issuer ISS] --idempotency-key K
  portcullis idempotency resolve --consumer C [--issuer ISS] --idempotency-key K --outcome not_processed
  portcullis idempotency resolve --consumer C [--issuer ISS] --idempotency-key K --outcome processed
                                 --status 201 [--content-type T] [--body-file F]

--consumer is the caller's consumer id (as in the access log), --issuer
the token issuer of token callers. not_processed releases a key left in
doubt (the client's next retry is forwarded); processed completes it with
the answer retries get. Check the upstream's records first.
`

// readJWK reads a JWK file (bounded, one JSON object).
func readJWK(path string) (json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > 16<<10 {
		return nil, fmt.Errorf("%s: larger than 16KiB", path)
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	if _, private := obj["d"]; private {
		return nil, fmt.Errorf("%s: holds a private key; register the public key only", path)
	}
	return json.RawMessage(b), nil
}

func cmdSigningKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, signingKeysUsage)
		return 0
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("signing-keys "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var api apiFlags
	api.register(fs)
	var consumer, jwkFile, keyID, expiresAt, grace, cursor string
	var limit int
	switch sub {
	case "add", "rotate":
		if sub == "add" {
			fs.StringVar(&consumer, "consumer", "", "consumer id (required)")
		} else {
			fs.StringVar(&grace, "grace", "", "how long the old key keeps verifying (default keys.rotation_grace)")
		}
		fs.StringVar(&jwkFile, "jwk", "", "file with the public JWK (required)")
		fs.StringVar(&keyID, "key-id", "", "keyid signatures name (default: the JWK's kid)")
		fs.StringVar(&expiresAt, "expires-at", "", "expiry, RFC 3339")
	case "list":
		fs.StringVar(&consumer, "consumer", "", "consumer id (required)")
		fs.IntVar(&limit, "limit", 0, "page size")
		fs.StringVar(&cursor, "cursor", "", "next_cursor of the previous page")
	case "get", "revoke":
	default:
		fmt.Fprintf(stderr, "unknown signing-keys command %q\n\n%s", sub, signingKeysUsage)
		return 2
	}
	pos, err := parse(fs, args)
	if err != nil {
		return 2
	}
	needID := sub == "get" || sub == "rotate" || sub == "revoke"
	needConsumer := sub == "add" || sub == "list"
	if needID != (len(pos) == 1) || (!needID && len(pos) > 0) || (needConsumer && consumer == "") {
		fmt.Fprint(stderr, signingKeysUsage)
		return 2
	}
	switch sub {
	case "add", "rotate":
		if jwkFile == "" {
			fmt.Fprintln(stderr, "--jwk is required")
			return 2
		}
		jwk, err := readJWK(jwkFile)
		if err != nil {
			fmt.Fprintf(stderr, "--jwk: %v\n", err)
			return 2
		}
		body := map[string]any{"public_key": jwk}
		if keyID != "" {
			body["key_id"] = keyID
		}
		if expiresAt != "" {
			body["expires_at"] = expiresAt
		}
		if sub == "add" {
			return call(&api, "POST", "/v1/consumers/"+url.PathEscape(consumer)+"/signing-keys", body, stdout, stderr)
		}
		if grace != "" {
			body["grace"] = grace
		}
		return call(&api, "POST", "/v1/signing-keys/"+url.PathEscape(pos[0])+"/rotate", body, stdout, stderr)
	case "list":
		q := url.Values{"cursor": {cursor}}
		if limit > 0 {
			q.Set("limit", fmt.Sprint(limit))
		}
		return call(&api, "GET", listPath("/v1/consumers/"+url.PathEscape(consumer)+"/signing-keys", q), nil, stdout, stderr)
	case "get":
		return call(&api, "GET", "/v1/signing-keys/"+url.PathEscape(pos[0]), nil, stdout, stderr)
	}
	return call(&api, "POST", "/v1/signing-keys/"+url.PathEscape(pos[0])+"/revoke", nil, stdout, stderr)
}

func cmdIdentities(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, identitiesUsage)
		return 0
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("identities "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var api apiFlags
	api.register(fs)
	var consumer, issuer, client, cursor string
	var limit int
	switch sub {
	case "add":
		fs.StringVar(&consumer, "consumer", "", "consumer id (required)")
		fs.StringVar(&issuer, "issuer", "", "the token's iss, exactly")
		fs.StringVar(&client, "client-id", "", "the token's client (client_id, azp or the configured consumer claim)")
	case "list":
		fs.StringVar(&consumer, "consumer", "", "consumer id (required)")
		fs.IntVar(&limit, "limit", 0, "page size")
		fs.StringVar(&cursor, "cursor", "", "next_cursor of the previous page")
	case "delete":
	default:
		fmt.Fprintf(stderr, "unknown identities command %q\n\n%s", sub, identitiesUsage)
		return 2
	}
	pos, err := parse(fs, args)
	if err != nil {
		return 2
	}
	needID := sub == "delete"
	if needID != (len(pos) == 1) || (!needID && len(pos) > 0) || (!needID && consumer == "") || (sub == "add" && client == "") {
		fmt.Fprint(stderr, identitiesUsage)
		return 2
	}
	switch sub {
	case "add":
		return call(&api, "POST", "/v1/consumers/"+url.PathEscape(consumer)+"/identities",
			map[string]any{"issuer": issuer, "client_id": client}, stdout, stderr)
	case "list":
		q := url.Values{"cursor": {cursor}}
		if limit > 0 {
			q.Set("limit", fmt.Sprint(limit))
		}
		return call(&api, "GET", listPath("/v1/consumers/"+url.PathEscape(consumer)+"/identities", q), nil, stdout, stderr)
	}
	return call(&api, "DELETE", "/v1/identities/"+url.PathEscape(pos[0]), nil, stdout, stderr)
}

func cmdIdempotency(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, idempotencyUsage)
		return 0
	}
	sub, args := args[0], args[1:]
	if sub != "lookup" && sub != "resolve" {
		fmt.Fprintf(stderr, "unknown idempotency command %q\n\n%s", sub, idempotencyUsage)
		return 2
	}
	fs := flag.NewFlagSet("idempotency "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var api apiFlags
	api.register(fs)
	var consumer, issuer, key, outcome, contentType, bodyFile string
	var status int
	fs.StringVar(&consumer, "consumer", "", "the caller's consumer id (required)")
	fs.StringVar(&issuer, "issuer", "", "the token issuer of a token caller")
	fs.StringVar(&key, "idempotency-key", "", "the Idempotency-Key value, unquoted (required)")
	if sub == "resolve" {
		fs.StringVar(&outcome, "outcome", "", "not_processed or processed (required)")
		fs.IntVar(&status, "status", 0, "(processed) status of the answer retries get")
		fs.StringVar(&contentType, "content-type", "", "(processed) its Content-Type")
		fs.StringVar(&bodyFile, "body-file", "", "(processed) file with its body (at most 64KiB)")
	}
	pos, err := parse(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) > 0 || consumer == "" || key == "" || (sub == "resolve" && outcome == "") {
		fmt.Fprint(stderr, idempotencyUsage)
		return 2
	}
	body := map[string]any{"consumer": consumer, "issuer": issuer, "key": key}
	if sub == "lookup" {
		return call(&api, "POST", "/v1/idempotency-keys/lookup", body, stdout, stderr)
	}
	body["outcome"] = outcome
	if outcome == "processed" {
		resp := map[string]any{"status": status, "content_type": contentType}
		if bodyFile != "" {
			b, err := os.ReadFile(bodyFile)
			if err != nil || len(b) > 64<<10 {
				fmt.Fprintf(stderr, "--body-file: cannot read it, or it is larger than 64KiB\n")
				return 2
			}
			resp["body"] = string(b)
		}
		body["response"] = resp
	}
	return call(&api, "POST", "/v1/idempotency-keys/resolve", body, stdout, stderr)
}
