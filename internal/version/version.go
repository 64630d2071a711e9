// Package version owns what the binary says about itself: its version,
// commit, Go version and every module it was built from, so operators know
// what they must patch.
package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Version and Commit are set at build time with
// -ldflags "-X github.com/portcullis/portcullis/internal/version.Version=v1.2.3 -X ...Commit=abc".
var (
	Version = "dev"
	Commit  = ""
)

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
	info := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if info.Commit == "" {
				info.Commit = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
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

// Write prints the report.
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
