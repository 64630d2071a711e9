package main

import (
	"fmt"
	"io"
	"net/url"
)

// cmdAdminTokens manages admin tokens over the admin API (so each change is
// authorised, role admin, and audited), unlike bootstrap which needs the
// store because no token exists yet.
func cmdAdminTokens(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, adminUsage)
		return 0
	}
	sub, args := args[0], args[1:]
	c := newCommand("admin tokens "+sub, adminUsage)
	fs := c.fs
	var api apiFlags
	api.register(fs)
	var (
		name, role, expiresIn, expiresAt, cursor string
		limit                                    int
	)
	nID := 0
	switch sub {
	case "create":
		fs.StringVar(&name, "name", "", "name of the token (required)")
		fs.StringVar(&role, "role", "", "role: admin, operator or auditor (required)")
		fs.StringVar(&expiresIn, "expires-in", "", "expire after this long (e.g. 720h, 90d)")
		fs.StringVar(&expiresAt, "expires-at", "", "expire at this RFC 3339 time")
	case "list":
		fs.IntVar(&limit, "limit", 0, "page size")
		fs.StringVar(&cursor, "cursor", "", "next_cursor of the previous page")
	case "revoke":
		nID = 1
	default:
		fmt.Fprintf(stderr, "unknown admin tokens command %q\n\n%s", sub, adminUsage)
		return 2
	}
	pos, code, ok := c.parse(args, nID, nID, stdout, stderr)
	if !ok {
		return code
	}
	switch sub {
	case "create":
		if name == "" || role == "" {
			fmt.Fprintln(stderr, "--name and --role are required")
			return 2
		}
		body := map[string]any{"name": name, "role": role}
		if !setExpiry(body, expiresIn, expiresAt, stderr) {
			return 2
		}
		code := call(&api, "POST", "/v1/admin-tokens", body, stdout, stderr)
		if code == 0 {
			fmt.Fprintln(stderr, "The token's secret is shown once, above: store it now.")
		}
		return code
	case "list":
		q := url.Values{"cursor": {cursor}}
		if limit > 0 {
			q.Set("limit", fmt.Sprint(limit))
		}
		return call(&api, "GET", listPath("/v1/admin-tokens", q), nil, stdout, stderr)
	}
	return call(&api, "POST", "/v1/admin-tokens/"+url.PathEscape(pos[0])+"/revoke", nil, stdout, stderr)
}
