package main

import (
	"encoding/json"
	"io"

	"github.com/portcullis/portcullis/internal/version"
)

const versionUsage = `Usage:
  portcullis version [--json]

Prints the version, commit, Go version, platform and every module built in.
`

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	c := newCommand("version", versionUsage)
	asJSON := c.fs.Bool("json", false, "print the report as one JSON object")
	if _, code, ok := c.parse(args, 0, 0, stdout, stderr); !ok {
		return code
	}
	info := version.Get()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(info)
		return 0
	}
	info.Write(stdout)
	return 0
}
