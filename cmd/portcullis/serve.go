package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/authn/jwks"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/gateway"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/observe"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/server"
	"github.com/portcullis/portcullis/internal/tokencache"
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
	// Caches that must outlive reloads: JWKS and verified tokens; limiter
	// state (made once here, shared by every runtime).
	ratelimit.RouteRedisLogs(log)
	limits, err := ratelimit.NewStores(cfg.RateLimits.Store, ratelimit.Options{Log: log})
	if err != nil {
		printProblems(stderr, cfgPath, err)
		return 1
	}
	defer limits.Close()
	deps := gateway.Deps{JWKS: jwks.NewRegistry(log, nil), TokenCache: tokencache.New(tokencache.DefaultMaxBytes, nil), RateLimits: limits}
	opts := server.Options{ConfigPath: cfgPath, Log: log, LogLevel: level, Deps: deps, Collectors: limits.Collectors()}
	// The key service outlives reloads: its cache, change feed and pool
	// are built once here.
	var svc *keys.Service
	if cfg.KeysInUse() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		svc, err = keys.Open(ctx, cfg.Keys, os.LookupEnv, log)
		cancel()
		if err != nil {
			printProblems(stderr, cfgPath, err)
			return 1
		}
		defer svc.Close()
		opts.Deps.Keys = svc
		opts.ReadyChecks = map[string]func() error{"keys": svc.Ready}
	}
	srv, err := server.New(cfg, opts)
	if err != nil {
		printProblems(stderr, cfgPath, err)
		return 1
	}
	sigs := signals()
	if cfg.Admin.Enabled {
		adm, err := admin.New(cfg.Admin, admin.Deps{Keys: svc, Log: log})
		if err != nil {
			printProblems(stderr, cfgPath, err)
			return 1
		}
		if err := adm.Start(); err != nil {
			log.Error("start failed", "error", err.Error())
			return 1
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = adm.Shutdown(ctx)
		}()
	}
	if err := srv.Start(); err != nil {
		log.Error("start failed", "error", err.Error())
		return 1
	}
	if err := srv.Run(context.Background(), sigs); err != nil {
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
