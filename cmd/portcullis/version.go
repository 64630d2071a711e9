package main

import (
	"io"

	"github.com/portcullis/portcullis/internal/version"
)

func cmdVersion(stdout io.Writer) int {
	version.Get().Write(stdout)
	return 0
}
