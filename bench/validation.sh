#!/usr/bin/env bash
# The cost of the input-validation stages per request, measured in process
# (BenchmarkValidation of internal/gateway: the whole route chain on one
# handler, the upstream answering from memory, no network), side by side in
# one run: a GET and a 1 KiB payment POST on a route without the stages,
# with the default JSON limits, and with an OpenAPI 3.0 and 3.1 document.
#
#   bench/validation.sh            # prints the RESULTS.md section
#   bench/validation.sh --update   # replaces that section of bench/RESULTS.md
#
# Knobs: COUNT [5] runs of each case (medians are reported), BENCHTIME
# [3000x] iterations per run. bench/run.sh calls it for its report.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-3000x}
BEGIN='<!-- bench/validation.sh: begin -->'
END='<!-- bench/validation.sh: end -->'
cmd="go test -run '^\$' -bench BenchmarkValidation -benchmem -count $COUNT -benchtime $BENCHTIME ./internal/gateway"

section() {
	local raw
	raw=$(cd "$ROOT" && eval "$cmd")
	echo "$BEGIN"
	echo "## Input validation per request (in process)"
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ); commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' (uncommitted changes)')"
	echo "- command: \`$cmd\` (written by \`bench/validation.sh\`)"
	echo "- one handler, the whole route chain, the upstream answering from memory: the cost a stage adds, without the network and TLS of the table above"
	echo "- CPU µs/req is the process's user+system time per request (GC included), steady when other processes share the cores; wall µs/req is Go's ns/op and is not, on a loaded machine (load average $(cut -d' ' -f1 /proc/loadavg) when this ran)"
	echo
	echo "| case | CPU µs/req | wall µs/req | B/req | allocs/req | added by the stages (CPU) |"
	echo "|---|---:|---:|---:|---:|---:|"
	# Medians over the runs of each case; the added cost is against the
	# same method on the route without the stages ("no-validation").
	awk '
	/^BenchmarkValidation\// {
		name = $1; sub(/^BenchmarkValidation\//, "", name); sub(/-[0-9]+$/, "", name)
		if (!(name in n)) order[++cases] = name
		i = ++n[name]; ns[name, i] = $3
		for (f = 4; f < NF; f++) {
			if ($(f + 1) == "cpu-ns/op") cpu[name, i] = $f
			if ($(f + 1) == "B/op") by[name, i] = $f
			if ($(f + 1) == "allocs/op") al[name, i] = $f
		}
	}
	function median(a, name,    k, j, t, v, m) {
		m = n[name]
		for (k = 1; k <= m; k++) v[k] = a[name, k] + 0
		for (k = 1; k <= m; k++) for (j = k + 1; j <= m; j++) if (v[j] < v[k]) { t = v[k]; v[k] = v[j]; v[j] = t }
		return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
	}
	END {
		for (c = 1; c <= cases; c++) {
			name = order[c]; split(name, part, "/")
			us = median(cpu, name) / 1000
			base = part[1] "/no-validation"
			if (name == base) added = "baseline"
			else added = sprintf("%+.1f µs, %+d allocs", us - median(cpu, base) / 1000, median(al, name) - median(al, base))
			printf "| %s | %.1f | %.1f | %d | %d | %s |\n", name, us, median(ns, name) / 1000, median(by, name), median(al, name), added
		}
	}' <<<"$raw"
	echo
	echo "A route without \`json_limits\` and \`openapi\` has neither stage in its chain (the registry builds none), so it pays nothing for them. With \`json_limits\` on (the default), a GET, or any request whose media type is not JSON, is not buffered or scanned: compare its allocations with the baseline."
	echo "$END"
}

if [ "${1:-}" = --update ]; then
	out=$(section)
	f=$HERE/RESULTS.md
	if grep -qF "$BEGIN" "$f"; then
		REPL=$out awk -v b="$BEGIN" -v e="$END" '
			$0 == b { print ENVIRON["REPL"]; skip = 1; next }
			$0 == e { skip = 0; next }
			!skip' "$f" >"$f.tmp"
	else
		{ cat "$f"; echo; echo "$out"; } >"$f.tmp"
	fi
	mv "$f.tmp" "$f"
	echo "$out"
else
	section
fi
