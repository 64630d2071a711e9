package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one CLI command's flags: everything it does not understand
// (an unknown flag, a surplus argument) is refused with exit 2, and -h /
// --help prints its usage to stdout with exit 0.
type command struct {
	fs    *flag.FlagSet
	usage string // the synopsis lines, printed before the flags
}

func newCommand(name, usage string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := &command{fs: fs, usage: usage}
	fs.Usage = func() {} // printed by parse, where it should go
	return c
}

func (c *command) printUsage(w io.Writer) {
	fmt.Fprint(w, strings.TrimRight(c.usage, "\n")+"\n")
	var flags strings.Builder
	c.fs.SetOutput(&flags)
	c.fs.PrintDefaults()
	if flags.Len() > 0 {
		fmt.Fprint(w, "\nFlags:\n"+flags.String())
	}
}

// parse parses args, flags before or after positional arguments, and
// checks the count of positional arguments is between minPos and maxPos.
// ok is false when the command must end with code.
func (c *command) parse(args []string, minPos, maxPos int, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	c.fs.SetOutput(stderr)
	pos, err := parse(c.fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		c.printUsage(stdout)
		return nil, 0, false
	case err != nil:
		// The flag package has printed what it refused.
		fmt.Fprintf(stderr, "Run \"portcullis %s --help\" for its usage.\n", c.fs.Name())
		return nil, 2, false
	case len(pos) < minPos || len(pos) > maxPos:
		if len(pos) > maxPos {
			fmt.Fprintf(stderr, "unexpected argument %q\n", pos[maxPos])
		} else {
			fmt.Fprintln(stderr, "missing argument")
		}
		c.printUsage(stderr)
		return nil, 2, false
	}
	return pos, 0, true
}
