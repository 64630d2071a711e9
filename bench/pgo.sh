#!/usr/bin/env bash
# Regenerates cmd/portcullis/default.pgo, the profile `go build` uses for
# profile-guided optimisation of the binary: CPU profiles of the plain
# proxy and of JWT + rate limit + access log under load (bench/profile.sh),
# merged. Rerun it when the hot path changes, then measure the gain with
# bench/ab.sh (a binary built with -pgo=off against the default).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
WORK=${WORK:-$(mktemp -d -t pcpgo.XXXXXX)}
for s in plain jwt-rl-log; do
	SCENARIO=$s WORK="$WORK/$s" "$HERE/profile.sh" >&2
done
go tool pprof -proto "$WORK/plain/cpu.pprof" "$WORK/jwt-rl-log/cpu.pprof" >"$ROOT/cmd/portcullis/default.pgo"
echo "wrote cmd/portcullis/default.pgo ($(wc -c <"$ROOT/cmd/portcullis/default.pgo") bytes)"
