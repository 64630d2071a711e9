package version

import (
	"bytes"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		wantVersion     string
		wantCommit      string
		wantModified    bool
	}{
		{name: "scripts/build.sh on a tag", version: "v1.2.3", commit: "abc123",
			bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, wantVersion: "v1.2.3", wantCommit: "abc123"},
		{name: "scripts/build.sh after a tag, modified tree", version: "v1.2.3-4-gabc1234-dirty", commit: "abc1234ff",
			bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, wantVersion: "v1.2.3-4-gabc1234-dirty", wantCommit: "abc1234ff", wantModified: true},
		{name: "the linker wins over the module version", version: "v2.0.0", commit: "c2",
			bi: &debug.BuildInfo{Main: debug.Module{Version: "v1.9.0"}, Settings: vcs("c1", "false")}, wantVersion: "v2.0.0", wantCommit: "c2"},
		{name: "go install ...@v1.4.0", bi: &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}},
			wantVersion: "v1.4.0"},
		{name: "go build with VCS stamping", bi: &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261130173400-10d7db3aa1b2+dirty"}, Settings: vcs("10d7db3aa1b2", "true")},
			wantVersion: "v0.0.0-20261130173400-10d7db3aa1b2+dirty", wantCommit: "10d7db3aa1b2", wantModified: true},
		{name: "go run in a checkout", bi: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			wantVersion: "devel"},
		{name: "no build information", wantVersion: "devel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.version, tt.commit, tt.bi)
			if got.Version != tt.wantVersion || got.Commit != tt.wantCommit || got.Modified != tt.wantModified {
				t.Fatalf("got version %q commit %q modified %v, want %q %q %v",
					got.Version, got.Commit, got.Modified, tt.wantVersion, tt.wantCommit, tt.wantModified)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	var b bytes.Buffer
	Info{Version: "v1.2.3", Commit: "abc", Modified: true, GoVersion: "go1.27.3",
		Modules: []Module{{Path: "example.com/a", Version: "v1.0.0"}, {Path: "example.com/b", Version: "v2.0.0", Replace: "../b "}}}.Write(&b)
	lines := strings.Split(b.String(), "\n")
	want := []string{"portcullis v1.2.3", "commit: abc (modified)", "go: go1.27.3"}
	if !reflect.DeepEqual(lines[:3], want) {
		t.Fatalf("first lines %q, want %q", lines[:3], want)
	}
	if !strings.Contains(b.String(), "  example.com/a v1.0.0\n  example.com/b v2.0.0 => ../b \n") {
		t.Fatalf("modules missing:\n%s", b.String())
	}
}

// scripts/build.sh stamps the version through the linker by package path:
// a moved package or renamed variable would silently leave every release
// reporting "devel".
func TestBuildScriptNamesThisPackage(t *testing.T) {
	script, err := os.ReadFile("../../scripts/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	pkg := reflect.TypeFor[Info]().PkgPath()
	// -X sets string variables by these names; a rename fails to compile here.
	var _ = []*string{&Version, &Commit}
	for _, want := range []string{"pkg=" + pkg + "\n", "-X $pkg.Version=", "-X $pkg.Commit="} {
		if !strings.Contains(string(script), want) {
			t.Errorf("scripts/build.sh lacks %q", want)
		}
	}
}
