package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/portcullis/portcullis/internal/demo"
	"github.com/portcullis/portcullis/internal/observe"
)

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o demo.Options
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:8443", "gateway HTTPS listener")
	fs.StringVar(&o.FAPIAddr, "fapi-addr", "127.0.0.1:8444", "gateway HTTPS listener with the FAPI 2.0 TLS profile")
	fs.StringVar(&o.AdminAddr, "admin-addr", "127.0.0.1:9443", "admin API listener")
	fs.StringVar(&o.OpsAddr, "ops-addr", "127.0.0.1:9090", "ops listener (/healthz, /readyz, /metrics)")
	fs.StringVar(&o.CredentialsOut, "credentials-out", "", "write base_url, ca_file and credentials as JSON to this file")
	fs.StringVar(&o.DataDir, "data-dir", "", "directory for certificates, config and data (default: a new temp dir)")
	if err := fs.Parse(args); err != nil {
		return 2
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
