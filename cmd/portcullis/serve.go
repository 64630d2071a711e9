package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/portcullis/portcullis/internal/app"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/observe"
)

const serveUsage = `Usage:
  portcullis serve [--config FILE | FILE]

Runs the gateway until SIGTERM or interrupt (draining first, see
shutdown.pre_stop_delay and shutdown.drain_timeout); SIGHUP reloads the
configuration.
`

func cmdServe(args []string, stdout, stderr io.Writer) int {
	c := newCommand("serve", serveUsage)
	cfgPath := c.fs.String("config", "portcullis.yaml", "configuration file (or give it as the argument)")
	pos, code, ok := c.parse(args, 0, 1, stdout, stderr)
	if !ok {
		return code
	}
	path, code, ok := configPath(c, *cfgPath, pos, stderr)
	if !ok {
		return code
	}
	return serve(path, stderr, osSignals)
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
