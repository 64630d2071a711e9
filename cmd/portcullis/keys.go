package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/observe"
)

// The control-plane commands. keys and consumers call the admin API (so
// every change is authorised and audited by the running gateway); admin
// bootstrap and keys rekey work on the store directly, because they are
// needed before an admin token exists or touch the master key.

const keysUsage = `Usage:
  portcullis keys create --consumer ID [--scope S]... [--expires-in 720h | --expires-at RFC3339]
                         [--cidr CIDR]... [--tier T] [--label k=v]... [--notes TEXT]
  portcullis keys list   [--consumer ID] [--limit N] [--cursor C]
  portcullis keys get    ID
  portcullis keys rotate ID [--grace 24h] [--expires-at RFC3339]
  portcullis keys revoke ID
  portcullis keys rekey  --config FILE [--force]
                         re-encrypt metadata under the newest master key; refused while
                         a live instance lacks it (see docs/api-keys.md, "Rotating the master key and the pepper")

The API commands reach the admin API with:
  --admin-url URL  (or PORTCULLIS_ADMIN_URL, default https://127.0.0.1:9443)
  --ca-file FILE   (or PORTCULLIS_ADMIN_CA) to verify its certificate
  PORTCULLIS_ADMIN_TOKEN (an admin token; never a flag, so it stays out of shell history)
  or --cert FILE --key FILE (or PORTCULLIS_ADMIN_CERT / PORTCULLIS_ADMIN_KEY), a client certificate
`

const consumersUsage = `Usage:
  portcullis consumers create --name NAME [--group G]... [--tier T] [--label k=v]... [--contact C] [--notes N] [--disabled]
  portcullis consumers list   [--limit N] [--cursor C]
  portcullis consumers get    ID
  portcullis consumers update ID [--name NAME] [--group G]... [--tier T] [--contact C] [--notes N] [--disable | --enable]
  portcullis consumers delete ID        revokes every key of the consumer

Admin API flags and environment: see "portcullis keys --help".
`

const adminUsage = `Usage:
  portcullis admin bootstrap --config FILE [--name NAME]
      create the first admin token (role admin) and print it once; refused
      when an admin token already exists (lost it? see docs/api-keys.md,
      "Lost the bootstrap admin token")
  portcullis admin tokens create --name NAME --role ROLE [--expires-in 720h | --expires-at RFC3339]
  portcullis admin tokens list   [--limit N] [--cursor C]
  portcullis admin tokens revoke ID

Admin API flags and environment: see "portcullis keys --help".
`

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// apiFlags are the flags of every command that calls the admin API.
type apiFlags struct {
	url, ca, cert, key string
}

func (a *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.url, "admin-url", envOr("PORTCULLIS_ADMIN_URL", "https://"+config.DefaultAdminAddress), "admin API base URL")
	fs.StringVar(&a.ca, "ca-file", os.Getenv("PORTCULLIS_ADMIN_CA"), "CA certificate of the admin listener")
	fs.StringVar(&a.cert, "cert", os.Getenv("PORTCULLIS_ADMIN_CERT"), "client certificate (instead of a token)")
	fs.StringVar(&a.key, "key", os.Getenv("PORTCULLIS_ADMIN_KEY"), "client certificate key")
}

func (a *apiFlags) client() (*admin.Client, error) {
	return admin.NewClient(admin.ClientOptions{URL: a.url, Token: os.Getenv("PORTCULLIS_ADMIN_TOKEN"),
		CAFile: a.ca, CertFile: a.cert, KeyFile: a.key})
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func labels(m multi) (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range m {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--label %q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

func printJSON(w io.Writer, raw json.RawMessage) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		_, _ = w.Write(raw)
		return
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintf(w, "%s\n", b)
}

// call runs one admin API request and prints the answer.
func call(api *apiFlags, method, path string, body any, stdout, stderr io.Writer) int {
	c, err := api.client()
	if err != nil {
		fmt.Fprintln(stderr, clientHint(err))
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var raw json.RawMessage
	if err := c.Do(ctx, method, path, body, &raw); err != nil {
		fmt.Fprintln(stderr, adminHint(err))
		return 1
	}
	if len(raw) > 0 {
		printJSON(stdout, raw)
	}
	return 0
}

func listPath(base string, q url.Values) string {
	for k, v := range q {
		if len(v) == 0 || v[0] == "" {
			delete(q, k)
		}
	}
	if len(q) == 0 {
		return base
	}
	return base + "?" + q.Encode()
}

func cmdKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, keysUsage)
		return 0
	}
	sub, args := args[0], args[1:]
	c := newCommand("keys "+sub, keysUsage)
	fs := c.fs
	if sub == "rekey" {
		return cmdRekey(c, args, stdout, stderr)
	}
	var api apiFlags
	api.register(fs)
	var (
		consumer, tier, notes, expiresIn, expiresAt, grace, cursor string
		limit                                                      int
		scopes, cidrs, lbls                                        multi
	)
	switch sub {
	case "create":
		fs.StringVar(&consumer, "consumer", "", "consumer id (required)")
		fs.Var(&scopes, "scope", "scope granted to the key (repeatable)")
		fs.StringVar(&expiresIn, "expires-in", "", "expire after this long (e.g. 720h, 90d)")
		fs.StringVar(&expiresAt, "expires-at", "", "expire at this RFC 3339 time")
		fs.Var(&cidrs, "cidr", "allowed source address or CIDR (repeatable)")
		fs.StringVar(&tier, "tier", "", "rate-limit tier")
		fs.Var(&lbls, "label", "label key=value (repeatable)")
		fs.StringVar(&notes, "notes", "", "notes (encrypted at rest)")
	case "list":
		fs.StringVar(&consumer, "consumer", "", "only keys of this consumer")
		fs.IntVar(&limit, "limit", 0, "page size")
		fs.StringVar(&cursor, "cursor", "", "next_cursor of the previous page")
	case "rotate":
		fs.StringVar(&grace, "grace", "", "how long the old key keeps working (default keys.rotation_grace)")
		fs.StringVar(&expiresAt, "expires-at", "", "the new key's expiry, RFC 3339 (default: the old key's)")
	case "get", "revoke":
	default:
		fmt.Fprintf(stderr, "unknown keys command %q\n\n%s", sub, keysUsage)
		return 2
	}
	nID := 0
	if sub == "get" || sub == "rotate" || sub == "revoke" {
		nID = 1
	}
	pos, code, ok := c.parse(args, nID, nID, stdout, stderr)
	if !ok {
		return code
	}
	switch sub {
	case "create":
		if consumer == "" {
			fmt.Fprintln(stderr, "--consumer is required")
			return 2
		}
		body := map[string]any{"consumer_id": consumer, "scopes": []string(scopes), "allowed_cidrs": []string(cidrs),
			"tier": tier, "notes": notes}
		if l, err := labels(lbls); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		} else if l != nil {
			body["labels"] = l
		}
		if !setExpiry(body, expiresIn, expiresAt, stderr) {
			return 2
		}
		code := call(&api, "POST", "/v1/keys", body, stdout, stderr)
		if code == 0 {
			fmt.Fprintln(stderr, "The key's secret is shown once, above: store it now.")
		}
		return code
	case "list":
		q := url.Values{"consumer_id": {consumer}, "cursor": {cursor}}
		if limit > 0 {
			q.Set("limit", fmt.Sprint(limit))
		}
		return call(&api, "GET", listPath("/v1/keys", q), nil, stdout, stderr)
	case "get":
		return call(&api, "GET", "/v1/keys/"+url.PathEscape(pos[0]), nil, stdout, stderr)
	case "rotate":
		body := map[string]any{}
		if grace != "" {
			body["grace"] = grace
		}
		if expiresAt != "" {
			body["expires_at"] = expiresAt
		}
		code := call(&api, "POST", "/v1/keys/"+url.PathEscape(pos[0])+"/rotate", body, stdout, stderr)
		if code == 0 {
			fmt.Fprintln(stderr, "The new key's secret is shown once, above: store it now. The old key stops at previous.grace_until.")
		}
		return code
	}
	return call(&api, "POST", "/v1/keys/"+url.PathEscape(pos[0])+"/revoke", nil, stdout, stderr)
}

func cmdConsumers(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, consumersUsage)
		return 0
	}
	sub, args := args[0], args[1:]
	c := newCommand("consumers "+sub, consumersUsage)
	fs := c.fs
	var api apiFlags
	api.register(fs)
	var (
		name, tier, contact, notes, cursor string
		limit                              int
		groups, lbls                       multi
		disabled, disable, enable          bool
	)
	switch sub {
	case "create", "update":
		fs.StringVar(&name, "name", "", "name (unique)")
		fs.Var(&groups, "group", "group (repeatable)")
		fs.StringVar(&tier, "tier", "", "rate-limit tier of the consumer's keys")
		fs.Var(&lbls, "label", "label key=value (repeatable)")
		fs.StringVar(&contact, "contact", "", "contact (encrypted at rest)")
		fs.StringVar(&notes, "notes", "", "notes (encrypted at rest)")
		if sub == "create" {
			fs.BoolVar(&disabled, "disabled", false, "create disabled")
		} else {
			fs.BoolVar(&disable, "disable", false, "disable: every key of the consumer stops at once")
			fs.BoolVar(&enable, "enable", false, "enable again")
		}
	case "list":
		fs.IntVar(&limit, "limit", 0, "page size")
		fs.StringVar(&cursor, "cursor", "", "next_cursor of the previous page")
	case "get", "delete":
	default:
		fmt.Fprintf(stderr, "unknown consumers command %q\n\n%s", sub, consumersUsage)
		return 2
	}
	nID := 0
	if sub == "get" || sub == "update" || sub == "delete" {
		nID = 1
	}
	pos, code, ok := c.parse(args, nID, nID, stdout, stderr)
	if !ok {
		return code
	}
	lb, err := labels(lbls)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	switch sub {
	case "create":
		body := map[string]any{"name": name, "groups": []string(groups), "tier": tier, "contact": contact,
			"notes": notes, "disabled": disabled}
		if lb != nil {
			body["labels"] = lb
		}
		return call(&api, "POST", "/v1/consumers", body, stdout, stderr)
	case "list":
		q := url.Values{"cursor": {cursor}}
		if limit > 0 {
			q.Set("limit", fmt.Sprint(limit))
		}
		return call(&api, "GET", listPath("/v1/consumers", q), nil, stdout, stderr)
	case "get":
		return call(&api, "GET", "/v1/consumers/"+url.PathEscape(pos[0]), nil, stdout, stderr)
	case "delete":
		code := call(&api, "DELETE", "/v1/consumers/"+url.PathEscape(pos[0]), nil, stdout, stderr)
		if code == 0 {
			fmt.Fprintln(stderr, "Deleted; every key of the consumer is revoked.")
		}
		return code
	}
	body := map[string]any{}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for flagName, field := range map[string]string{"name": "name", "tier": "tier", "contact": "contact", "notes": "notes"} {
		if set[flagName] {
			body[field] = map[string]string{"name": name, "tier": tier, "contact": contact, "notes": notes}[flagName]
		}
	}
	if set["group"] {
		body["groups"] = []string(groups)
	}
	if lb != nil {
		body["labels"] = lb
	}
	switch {
	case disable && enable:
		fmt.Fprintln(stderr, "use --disable or --enable, not both")
		return 2
	case disable:
		body["disabled"] = true
	case enable:
		body["disabled"] = false
	}
	return call(&api, "PATCH", "/v1/consumers/"+url.PathEscape(pos[0]), body, stdout, stderr)
}

// openService opens the store and secrets a config names, for the commands
// that work on the store directly.
func openService(cfgPath string, stderr io.Writer) (*keys.Service, int) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		printProblems(stderr, cfgPath, err)
		return nil, 1
	}
	if !cfg.KeysInUse() {
		fmt.Fprintf(stderr, "%s: no keys block (keys.store) is configured\n", cfgPath)
		return nil, 1
	}
	sec, err := keys.LoadSecrets(cfg.Keys, os.LookupEnv)
	if err != nil {
		printProblems(stderr, cfgPath, err)
		return nil, 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := keys.OpenStore(ctx, cfg.Keys)
	if err != nil {
		fmt.Fprintf(stderr, "opening the key store: %v\n", err)
		return nil, 1
	}
	o := keys.OptionsFromConfig(cfg.Keys)
	o.Store, o.Secrets, o.Log = st, sec, observe.NewLogger(stderr, "warn")
	svc, err := keys.NewService(o)
	if err != nil {
		st.Close()
		fmt.Fprintf(stderr, "%v\n", err)
		return nil, 1
	}
	// Written data (a bootstrap token, audit events) uses the versions
	// every live instance holds.
	if err := svc.LoadVersions(ctx); err != nil {
		fmt.Fprintf(stderr, "reading the live instances: %v\n", err)
	}
	return svc, 0
}

func cmdRekey(c *command, args []string, stdout, stderr io.Writer) int {
	cfgPath := c.fs.String("config", "portcullis.yaml", "configuration file")
	force := c.fs.Bool("force", false, "rekey even while live instances lack the new master key version (they fail to read rewritten values until restarted with it)")
	if _, code, ok := c.parse(args, 0, 0, stdout, stderr); !ok {
		return code
	}
	svc, code := openService(*cfgPath, stderr)
	if svc == nil {
		return code
	}
	defer svc.Store().Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	res, err := svc.Rekey(ctx, *force)
	var lack *keys.InstancesLackVersionError
	if errors.As(err, &lack) {
		fmt.Fprintf(stderr, "rekey refused: %v\n", err)
		return 1
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintf(stdout, "%s\n", b)
	if err != nil {
		fmt.Fprintf(stderr, "rekey: %v\n", err)
		return 1
	}
	return 0
}

func cmdAdmin(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "tokens" {
		return cmdAdminTokens(args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "bootstrap" {
		fmt.Fprint(stderr, adminUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return 0
		}
		return 2
	}
	fs := flag.NewFlagSet("admin bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "portcullis.yaml", "configuration file")
	name := fs.String("name", "bootstrap-admin", "name of the token")
	if _, err := parse(fs, args[1:]); err != nil {
		return 2
	}
	svc, code := openService(*cfgPath, stderr)
	if svc == nil {
		return code
	}
	defer svc.Store().Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	it, err := svc.Bootstrap(ctx, *name)
	if errors.Is(err, keys.ErrAlreadyBootstrapped) {
		fmt.Fprintf(stderr, "admin bootstrap: %v\n", err)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "admin bootstrap: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, it.Secret)
	fmt.Fprintf(stderr, "Admin token %s (role admin) created. It is printed once, above: store it now,\n"+
		"e.g. export PORTCULLIS_ADMIN_TOKEN=... for the keys and consumers commands.\n", it.Token.ID)
	return 0
}

// setExpiry puts the expires_at the --expires-in or --expires-at flag asks
// for into body (keys and admin tokens take the same pair); false, with the
// reason on stderr, when the flags are unusable.
func setExpiry(body map[string]any, expiresIn, expiresAt string, stderr io.Writer) bool {
	switch {
	case expiresIn != "" && expiresAt != "":
		fmt.Fprintln(stderr, "use --expires-in or --expires-at, not both")
		return false
	case expiresIn != "":
		d, err := config.ParseDuration(expiresIn)
		if err != nil {
			fmt.Fprintf(stderr, "--expires-in: %v\n", err)
			return false
		}
		body["expires_at"] = time.Now().Add(d.D()).UTC().Format(time.RFC3339)
	case expiresAt != "":
		body["expires_at"] = expiresAt
	}
	return true
}
