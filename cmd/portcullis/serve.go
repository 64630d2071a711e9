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
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		printProblems(stderr, *cfgPath, err)
		return 1
	}
	log, level := observe.NewLoggerLevel(stderr, cfg.Logging.Level)
	p, err := app.Build(cfg, app.Options{ConfigPath: *cfgPath, Log: log, LogLevel: level})
	if err != nil {
		printProblems(stderr, *cfgPath, err)
		return 1
	}
	defer p.Close()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
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

func printProblems(w io.Writer, path string, err error) {
	if errs, ok := err.(config.Errors); ok {
		fmt.Fprintf(w, "%s: %d problem(s):\n", path, len(errs))
		for _, e := range errs {
			fmt.Fprintf(w, "  %s\n", e.Error())
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", path, err)
}
