package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/portcullis/portcullis/internal/app"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
)

func cmdServe(args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "portcullis.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	return serve(*cfgPath, stderr, osSignals)
}

// osSignals are the signals serve acts on: SIGHUP reloads, SIGTERM and
// interrupt stop.
func osSignals() <-chan os.Signal {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	return sigs
}

// serve runs the gateway of the config at cfgPath until a signal from
// signals() stops it; every line it logs goes to stderr, redacted.
func serve(cfgPath string, stderr io.Writer, signals func() <-chan os.Signal) int {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		printProblems(stderr, cfgPath, err)
		return 1
	}
	log, level := observe.NewLoggerLevel(stderr, cfg.Logging.Level)
	routeStdlog(log)
	p, err := app.Build(cfg, app.Options{ConfigPath: cfgPath, Log: log, LogLevel: level})
	if err != nil {
		printProblems(stderr, cfgPath, err)
		return 1
	}
	defer p.Close()
	sigs := signals()
	if err := p.Start(); err != nil {
		log.Error("start failed", "error", err.Error())
		return 1
	}
	if err := p.Run(context.Background(), sigs); err != nil {
		log.Error("stopped with error", "error", err.Error())
		return 1
	}
	return 0
}

// printProblems writes config and startup errors for a person at a
// terminal; they pass through the same redaction as log lines (a DSN or a
// file may hold a credential).
func printProblems(w io.Writer, path string, err error) {
	if errs, ok := err.(config.Errors); ok {
		fmt.Fprintf(w, "%s: %d problem(s):\n", path, len(errs))
		for _, e := range errs {
			fmt.Fprintf(w, "  %s\n", observe.Redact(e.Error()))
		}
		return
	}
	fmt.Fprintf(w, "%s: %s\n", path, observe.Redact(err.Error()))
}
