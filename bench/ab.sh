#!/usr/bin/env bash
# Side-by-side comparison of Portcullis binaries in one run: the same
# config (SCENARIO=jwt-rl-log: JWT RS256 + rate limit + access log to a
# file; or plain), the same upstream, rounds interleaved (order rotated), the
# gateway pinned to CPU 0 and wrk to CPU 1. Prints, per binary, the median
# req/s, the gateway's CPU time per request (utime+stime from /proc) and
# wrk's p99 latency at full load (closed loop: -c64).
#
#   bench/ab.sh NAME=BINARY[:PROTOCOL][@VAR=value] ...
#   REPS=5 DURATION=8s SCENARIO=plain bench/ab.sh old=/tmp/pc-old new=/tmp/pc-new
#   bench/ab.sh gc400=/tmp/pc gc100=/tmp/pc@GOGC=100 h2c=/tmp/pc:h2c
#
# Used for what bench/run.sh cannot show in one run: a change measured
# against the commit before it (forwarder, PGO), a runtime setting (the
# environment after @) or the upstream protocol (auto, http1 or h2c after
# ":"; the upstream accepts HTTP/1.1 and h2c).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
SCENARIO=${SCENARIO:-jwt-rl-log}
REPS=${REPS:-5}
DURATION=${DURATION:-8s}
WORK=${WORK:-$(mktemp -d -t pcab.XXXXXX)}
UP=19500 PC=19501
[ $# -ge 2 ] || { echo "usage: $0 NAME=BINARY NAME=BINARY ..." >&2; exit 2; }
cd "$ROOT"
for t in upstream jwtgen; do go build -o "$WORK/$t" "./bench/$t"; done
"$WORK/jwtgen" -out "$WORK/keys" -iss https://issuer.bench.local -aud bench-api 2>/dev/null
# shellcheck source=bench/scenario.sh
. "$HERE/scenario.sh"
for proto in auto http1 h2c; do
	scenario_config "$SCENARIO" $PC $UP "$WORK" "{disabled: true}" $proto >"$WORK/config-$proto.yaml"
done
taskset -c 0 "$WORK/upstream" -port $UP -h2c >/dev/null 2>&1 &
up=$!
trap 'kill $up 2>/dev/null || true' EXIT
token=$(cat "$WORK/keys/token.txt")
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
declare -A results=() tails=()
names=()
for arg in "$@"; do names+=("${arg%%=*}"); done
for ((round = 0; round < REPS; round++)); do
	n=$#
	for ((k = 0; k < n; k++)); do
		arg=${@:$(((k + round) % n + 1)):1}
		name=${arg%%=*} spec=${arg#*=}
		bin=${spec%%@*} env=()
		[ "$spec" != "$bin" ] && env=("${spec#*@}")
		proto=auto
		case $bin in *:*) proto=${bin##*:} bin=${bin%:*} ;; esac
		env "${env[@]}" taskset -c 0 "$bin" serve --config "$WORK/config-$proto.yaml" >"$WORK/$name.log" 2>&1 &
		pc=$!
		for _ in $(seq 50); do curl -fs -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$PC/api/echo" && break; sleep 0.1; done
		taskset -c 1 wrk -t2 -c64 -d2s -H "Authorization: Bearer $token" "http://127.0.0.1:$PC/api/echo" >/dev/null
		before=$(cpu_ticks $pc)
		out=$(taskset -c 1 wrk --latency -t2 -c64 -d"$DURATION" -H "Authorization: Bearer $token" "http://127.0.0.1:$PC/api/echo")
		after=$(cpu_ticks $pc)
		kill $pc; wait $pc 2>/dev/null || true
		reqs=$(echo "$out" | awk '/requests in/ {print $1}')
		rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
		us=$(awk -v t=$((after - before)) -v hz="$hz" -v r="$reqs" 'BEGIN{printf "%.1f", t/hz*1e6/r}')
		p99=$(echo "$out" | awk '$1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v); print v * (u == "us" ? 0.001 : u == "s" ? 1000 : 1)}')
		results[$name]+="$rps/$us "
		tails[$name]+="$p99 "
		echo "round $((round + 1)) $name: $rps req/s, $us µs CPU/req, p99 $p99 ms" >&2
	done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# The machine's speed drifts between rounds (a shared VM): each binary is
# also compared with the first within the same round, and those paired
# ratios are what to quote.
echo "scenario $SCENARIO, $REPS interleaved rounds of wrk -t2 -c64 -d$DURATION; medians"
printf '%-16s %10s %14s %22s %12s\n' binary req/s "CPU µs/req" "CPU/req vs ${names[0]}" "p99 ms"
base=(${results[${names[0]}]})
for name in "${names[@]}"; do
	rps=$(for x in ${results[$name]}; do echo "${x%/*}"; done | median)
	us=$(for x in ${results[$name]}; do echo "${x#*/}"; done | median)
	mine=(${results[$name]})
	ratio=$(for i in "${!mine[@]}"; do awk -v a="${mine[$i]#*/}" -v b="${base[$i]#*/}" 'BEGIN{printf "%.3f\n", a/b}'; done | median)
	p99=$(echo "${tails[$name]}" | median)
	printf '%-16s %10s %14s %22s %12s\n' "$name" "$rps" "$us" "${ratio}x" "$p99"
done
