#!/usr/bin/env bash
# Builds the portcullis binary with its version stamped in, so that
# `portcullis version` says exactly what is running: the nearest release tag
# (vMAJOR.MINOR.PATCH), plus the commits since it and "-dirty" for a
# modified work tree (git describe --tags --always --dirty), and the commit.
# Outside a git checkout the binary reports "devel" (or the module version
# of a `go install ...@vX.Y.Z` build).
#
#   scripts/build.sh [OUTPUT]     # default: ./portcullis
set -euo pipefail
out=$(realpath -m "${1:-portcullis}")
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
pkg=github.com/portcullis/portcullis/internal/version
version=""; commit=""
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  version=$(git describe --tags --always --dirty)
  commit=$(git rev-parse HEAD)
fi
go build -trimpath -ldflags "-X $pkg.Version=$version -X $pkg.Commit=$commit" -o "$out" ./cmd/portcullis
echo "built $out: $("$out" version | head -1)"
