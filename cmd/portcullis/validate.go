package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/portcullis/portcullis/internal/app"
	"github.com/portcullis/portcullis/internal/config"
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
		err = app.Check(cfg, app.Options{ConfigPath: *cfgPath})
	}
	if err != nil {
		printProblems(stderr, *cfgPath, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *cfgPath)
	return 0
}
