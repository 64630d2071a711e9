package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

const auditUsage = `Usage:
  portcullis audit verify      check the audit chain of the key store end to end (role admin or auditor);
                               exit 0 when it verifies, 1 when it does not (the output says where)

Admin API flags and environment: see "portcullis keys --help".
`

func cmdAudit(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, auditUsage)
		return 0
	}
	if args[0] != "verify" {
		fmt.Fprintf(stderr, "unknown audit command %q\n\n%s", args[0], auditUsage)
		return 2
	}
	c := newCommand("audit verify", auditUsage)
	var api apiFlags
	api.register(c.fs)
	if _, code, ok := c.parse(args[1:], 0, 0, stdout, stderr); !ok {
		return code
	}
	cl, err := api.client()
	if err != nil {
		fmt.Fprintln(stderr, clientHint(err))
		return 2
	}
	// A long chain takes a while to re-hash.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var raw json.RawMessage
	if err := cl.Do(ctx, "GET", "/v1/audit/verify", nil, &raw); err != nil {
		fmt.Fprintln(stderr, adminHint(err))
		return 1
	}
	printJSON(stdout, raw)
	var v struct {
		OK      bool   `json:"ok"`
		Problem string `json:"problem"`
	}
	if json.Unmarshal(raw, &v) != nil || !v.OK {
		// The problem is the chain's own finding ("audit chain does not
		// verify: event 2 was altered").
		if v.Problem == "" {
			v.Problem = "audit chain does not verify"
		}
		fmt.Fprintln(stderr, v.Problem)
		return 1
	}
	return 0
}
