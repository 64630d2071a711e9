package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/portcullis/portcullis/internal/app"
	"github.com/portcullis/portcullis/internal/config"
)

const validateUsage = `Usage:
  portcullis validate [--online] [--config FILE | FILE]

Checks a configuration and lists every problem in one run: the file's
syntax and rules, then what serve checks before it binds (secrets,
certificates, the key store's location, addresses that cannot both be
bound, every route compiled). Offline by default; --online also contacts
the key store and Redis. Exit 0 when serve would start, 1 otherwise.
`

// cmdValidate loads the config and builds everything it describes (reading
// certificates, compiling routes) without binding ports, so what it accepts
// will start.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	c := newCommand("validate", validateUsage)
	cfgPath := c.fs.String("config", "portcullis.yaml", "configuration file (or give it as the argument)")
	online := c.fs.Bool("online", false, "also contact the key store and Redis")
	pos, code, ok := c.parse(args, 0, 1, stdout, stderr)
	if !ok {
		return code
	}
	path, code, ok := configPath(c, *cfgPath, pos, stderr)
	if !ok {
		return code
	}
	cfg, err := config.LoadAll(path)
	if err := app.Check(cfg, err, app.Options{ConfigPath: path, Online: *online}); err != nil {
		printProblems(stderr, path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return 0
}

// configPath is the configuration file: --config, or the one positional
// argument; both at once must agree.
func configPath(c *command, flagValue string, pos []string, stderr io.Writer) (string, int, bool) {
	if len(pos) == 0 {
		return flagValue, 0, true
	}
	set := false
	c.fs.Visit(func(f *flag.Flag) { set = set || f.Name == "config" })
	if set && flagValue != pos[0] {
		fmt.Fprintf(stderr, "two configuration files given (--config %s and %s): give one\n", flagValue, pos[0])
		return "", 2, false
	}
	return pos[0], 0, true
}
