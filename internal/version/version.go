// Package version owns what the binary says about itself: its version,
// commit, Go version and every module it was built from, so operators know
// what they must patch.
//
// The version comes, in this order, from the linker (scripts/build sets it
// from `git describe --tags --always --dirty`), from the module version Go
// records when the binary is built with `go install ...@vX.Y.Z`, or is
// "devel". Releases are tagged vMAJOR.MINOR.PATCH (see CHANGELOG.md).
package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version and Commit are set at build time (scripts/build does it):
//
//	-ldflags "-X github.com/portcullis/portcullis/internal/version.Version=v1.2.3
//	          -X github.com/portcullis/portcullis/internal/version.Commit=<full hash>"
var (
	Version = ""
	Commit  = ""
)

// Devel is the version of a build that was given none.
const Devel = "devel"

// Info describes the build.
type Info struct {
	Version   string   `json:"version"`
	Commit    string   `json:"commit"`
	GoVersion string   `json:"go"`
	Modified  bool     `json:"modified"`
	Modules   []Module `json:"modules"`
}

// Module is one dependency in the build.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Replace string `json:"replace,omitempty"`
}

// Get reads the build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(Version, Commit, bi)
}

// resolve decides what the build reports from the linker's values and
// Go's build information (nil when the binary carries none).
func resolve(version, commit string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version()}
	// git describe --dirty marks a build from a modified work tree.
	info.Modified = strings.HasSuffix(version, "-dirty")
	if bi == nil {
		if info.Version == "" {
			info.Version = Devel
		}
		return info
	}
	if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if info.Version == "" {
		info.Version = Devel
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.modified":
			info.Modified = info.Modified || s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		m := Module{Path: d.Path, Version: d.Version}
		if d.Replace != nil {
			m.Replace = d.Replace.Path + " " + d.Replace.Version
		}
		info.Modules = append(info.Modules, m)
	}
	return info
}

// Write prints the report. Its first line is "portcullis <version>".
func (i Info) Write(w io.Writer) {
	commit := i.Commit
	if commit == "" {
		commit = "unknown"
	}
	if i.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(w, "portcullis %s\ncommit: %s\ngo: %s\nplatform: %s/%s\nmodules:\n", i.Version, commit, i.GoVersion, runtime.GOOS, runtime.GOARCH)
	for _, m := range i.Modules {
		if m.Replace != "" {
			fmt.Fprintf(w, "  %s %s => %s\n", m.Path, m.Version, m.Replace)
		} else {
			fmt.Fprintf(w, "  %s %s\n", m.Path, m.Version)
		}
	}
}
