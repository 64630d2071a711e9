// Command portcullis is the Portcullis API gateway: serve, validate, demo,
// version, and the control-plane commands (admin, keys, consumers,
// signing-keys, identities, idempotency, security). It only parses flags
// and calls into internal/.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `portcullis — a security-first API gateway

Usage:
  portcullis serve    [--config] FILE   run the gateway (default ./portcullis.yaml)
  portcullis validate [--config] FILE   check a config and list every problem
  portcullis demo     [flags]           run a complete demo gateway, no setup needed
  portcullis version  [--json]          print version, commit, Go version and modules
  portcullis admin bootstrap --config FILE   create the first admin token
  portcullis admin tokens create|list|revoke ...              manage admin tokens
  portcullis audit verify                                      check the audit chain
  portcullis keys      create|list|get|rotate|revoke|rekey ...   manage API keys
  portcullis consumers create|list|get|update|delete ...       manage consumers
  portcullis security  blocks list|lift, events ...             automatic blocks and security events
  portcullis signing-keys add|list|get|rotate|revoke ...      consumers' message-signing keys
  portcullis identities   add|list|delete ...                  map token clients to consumers
  portcullis idempotency  lookup|resolve ...                   idempotency keys left in doubt

Run "portcullis <command> --help" for a command's flags.
`

// main leaves the GC at Go's default (GOGC and GOMEMLIMIT in the
// environment apply): a 400 % target once measured 14 % less CPU per
// request, but with today's allocations two side-by-side runs of
// bench/ab.sh put it within the noise (docs/benchmarks.md), so memory is
// not traded for it.
func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(rest, stdout, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "demo":
		return cmdDemo(rest, stdout, stderr)
	case "admin":
		return cmdAdmin(rest, stdout, stderr)
	case "audit":
		return cmdAudit(rest, stdout, stderr)
	case "keys":
		return cmdKeys(rest, stdout, stderr)
	case "consumers":
		return cmdConsumers(rest, stdout, stderr)
	case "security":
		return cmdSecurity(rest, stdout, stderr)
	case "signing-keys":
		return cmdSigningKeys(rest, stdout, stderr)
	case "identities":
		return cmdIdentities(rest, stdout, stderr)
	case "idempotency":
		return cmdIdempotency(rest, stdout, stderr)
	case "version", "--version":
		return cmdVersion(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
	return 2
}
