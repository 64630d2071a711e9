package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/keys"
	"github.com/portcullis/portcullis/internal/server"
)

// cmdValidate loads the config and builds everything it describes (reading
// certificates, compiling routes) without binding ports, so what it accepts
// will start.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "portcullis.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*cfgPath)
	if err == nil {
		err = checkKeys(cfg)
	}
	if err == nil {
		opts := server.Options{ConfigPath: *cfgPath}
		if cfg.KeysInUse() {
			// Routes are built without connecting to the key store.
			opts.Deps.Keys = keys.Offline{}
		}
		err = server.CheckConfig(cfg, opts)
	}
	if err != nil {
		printProblems(stderr, *cfgPath, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *cfgPath)
	return 0
}

// checkKeys loads the pepper and master key and the admin listener's
// certificates, as serve would, without opening the store.
func checkKeys(cfg *config.Config) error {
	var errs config.Errors
	if cfg.KeysInUse() {
		if _, err := keys.LoadSecrets(cfg.Keys, os.LookupEnv); err != nil {
			errs.Merge("keys", err)
		}
	}
	if cfg.Admin.Enabled {
		errs.Merge("admin", admin.CheckConfig(cfg.Admin))
	}
	return errs.Err()
}
