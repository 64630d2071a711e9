#!/usr/bin/env bash
# The security monitor's cost per request (issue 13), as a Markdown
# section for bench/RESULTS.md: BenchmarkSecurityMonitor (internal/gateway,
# no network: JWT + rate limit + access log, canned upstream) with the
# monitor absent, present but off, on with the security log, and on with
# every sink (log, syslog over TLS, signed webhook for every event type),
# for accepted requests (observed only) and refused ones (one auth_failure
# event each). Medians of COUNT runs of N requests; bounded.
#
#   bench/monitor-cost.sh            # prints the section
#   IN=saved.txt bench/monitor-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
N=${N:-20000}
COUNT=${COUNT:-3}
cmd="go test -run '^\$' -bench BenchmarkSecurityMonitor -benchtime=${N}x -count=$COUNT ./internal/gateway"
# IN=FILE formats the saved output of that command instead of running it.
if [ -n "${IN:-}" ]; then out=$(cat "$IN"); else out=$(eval "$cmd"); fi
median() { # median MODE/TRAFFIC FIELD-NAME
	local v
	v=$(awk -v c="BenchmarkSecurityMonitor/$1-" -v f="$2" '
		index($1, c) == 1 { for (i = 3; i < NF; i++) if ($(i+1) == f) print $i }' <<<"$out" | sort -g)
	[ -n "$v" ] && sed -n "$((($(wc -l <<<"$v") + 1) / 2))p" <<<"$v"
}
echo
echo "## Security monitoring cost (issue 13)"
echo
echo "\`bench/monitor-cost.sh\`: \`$cmd\`, median of $COUNT. cpu-ns/op is the"
echo "process's user+system CPU time (the request loop and the monitor's goroutines, up to its drain) per"
echo "request; B/op and allocs/op count every goroutine. Refused requests carry no credential: each is"
echo "one \`auth_failure\` event. \"all sinks\" ships every event at severity info to the log, to syslog"
echo "over TLS and as a signed webhook POST (by default webhooks get only detections and blocks)."
echo "Measured $(date -u +%Y-%m-%dT%H:%M:%SZ) at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg)."
echo
echo "| monitor | accepted cpu-ns/op | accepted B/op | accepted allocs/op | refused cpu-ns/op | refused B/op | refused allocs/op |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for m in none off log all-sinks; do
	case $m in
	none) d="absent (no monitor built)" ;;
	off) d="\`security.enabled: false\`" ;;
	log) d="on, defaults, security log to a file" ;;
	all-sinks) d="on, log + syslog (TLS) + webhook, every event" ;;
	esac
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$d" \
		"$(median "$m/accepted" cpu-ns/op)" "$(median "$m/accepted" B/op)" "$(median "$m/accepted" allocs/op)" \
		"$(median "$m/refused" cpu-ns/op)" "$(median "$m/refused" B/op)" "$(median "$m/refused" allocs/op)"
done
