package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/portcullis/portcullis/internal/demo"
	"github.com/portcullis/portcullis/internal/observe"
)

const demoUsage = `Usage:
  portcullis demo [flags]

Runs a complete gateway with a demo backend, certificates, a token, an API
key and an admin token, all generated. Its files go to a new temporary
directory, removed when the demo stops, unless --data-dir is given.
`

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	c := newCommand("demo", demoUsage)
	fs := c.fs
	var o demo.Options
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:8443", "gateway HTTPS listener")
	fs.StringVar(&o.FAPIAddr, "fapi-addr", "127.0.0.1:8444", "gateway HTTPS listener with the FAPI 2.0 TLS profile")
	fs.StringVar(&o.AdminAddr, "admin-addr", "127.0.0.1:9443", "admin API listener")
	fs.StringVar(&o.OpsAddr, "ops-addr", "127.0.0.1:9090", "ops listener (/healthz, /readyz, /metrics)")
	fs.StringVar(&o.CredentialsOut, "credentials-out", "", "write base_url, ca_file and credentials as JSON to this file")
	fs.StringVar(&o.DataDir, "data-dir", "", "directory for certificates, config and data (default: a new temp dir)")
	if _, code, ok := c.parse(args, 0, 0, stdout, stderr); !ok {
		return code
	}
	log := observe.NewLogger(stderr, "info")
	routeStdlog(log)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	if err := demo.Run(context.Background(), o, sigs, stdout, log); err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	return 0
}
