#!/usr/bin/env bash
# Profiles Portcullis under load: the JWT + rate limit + access log scenario
# (or SCENARIO=plain), pinned like bench/run.sh, with a CPU profile taken
# from the opt-in pprof endpoint of the ops listener. Prints the profile
# grouped by layer and leaves the raw profile in $WORK/cpu.pprof.
#
#   bench/profile.sh                 # SCENARIO=jwt-rl-log, 10 s of load
#   SCENARIO=plain bench/profile.sh
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
SCENARIO=${SCENARIO:-jwt-rl-log}
WORK=${WORK:-$(mktemp -d -t pcprofile.XXXXXX)}
UP=19400 PC=19401 OPS=19402
cd "$ROOT"
for t in upstream jwtgen; do go build -o "$WORK/$t" "./bench/$t"; done
go build -o "$WORK/portcullis" ./cmd/portcullis
"$WORK/jwtgen" -out "$WORK/keys" -iss https://issuer.bench.local -aud bench-api 2>/dev/null
# shellcheck source=bench/scenario.sh
. "$HERE/scenario.sh"
scenario_config "$SCENARIO" $PC $UP "$WORK" "{address: \"127.0.0.1:$OPS\", pprof: true}" >"$WORK/config.yaml"
taskset -c 0 "$WORK/upstream" -port $UP >/dev/null 2>&1 &
up=$!
taskset -c 0 "$WORK/portcullis" serve --config "$WORK/config.yaml" >"$WORK/portcullis.log" 2>&1 &
pc=$!
trap 'kill $pc $up 2>/dev/null' EXIT
sleep 1
taskset -c 1 wrk -t2 -c64 -d12s -H "Authorization: Bearer $(cat "$WORK/keys/token.txt")" "http://127.0.0.1:$PC/api/echo" >"$WORK/wrk.txt" &
sleep 2
curl -s -o "$WORK/cpu.pprof" "http://127.0.0.1:$OPS/debug/pprof/profile?seconds=8"
wait %3 || true
echo "scenario $SCENARIO: $(grep Requests/sec "$WORK/wrk.txt")"
top() { go tool pprof -top -cum -nodecount=2000 "$WORK/portcullis" "$WORK/cpu.pprof" 2>/dev/null; }
total=$(go tool pprof -top "$WORK/portcullis" "$WORK/cpu.pprof" 2>/dev/null | sed -n 's/.*Total samples = \([0-9.]*\)s.*/\1/p')
share() { top | awk -v re="$1" -v t="$total" '$6 ~ re {gsub("s","",$4); if ($4+0 > m) m=$4+0} END{printf "%5.1f %%", m/t*100}'; }
echo "CPU share by layer (cumulative, overlapping):"
printf '  %-52s %s\n' "kernel send/receive (write, read syscalls)" "$(share '^syscall.Syscall$')"
printf '  %-52s %s\n' "net/http server: whole request (our handler inside)" "$(share '^net/http.\(\*conn\).serve$')"
printf '  %-52s %s\n' "  our handler, all middlewares + proxy" "$(share 'listenerHandler..ServeHTTP$')"
printf '  %-52s %s\n' "    forwarder exchange (outbound build, relay)" "$(share 'Forwarder..exchange$')"
printf '  %-52s %s\n' "    JWT authenticator (cached)" "$(share 'jwt.\(\*Authenticator\).Authenticate$')"
printf '  %-52s %s\n' "    rate limit store check" "$(share 'ratelimit.\(\*Limits\).run$')"
printf '  %-52s %s\n' "    access log line" "$(share 'AccessLog..Log$')"
printf '  %-52s %s\n' "net/http transport: upstream read loop" "$(share 'persistConn..readLoop$')"
printf '  %-52s %s\n' "net/http transport: upstream write loop" "$(share 'persistConn..writeLoop$')"
printf '  %-52s %s\n' "garbage collector (background marking)" "$(share '^runtime.gcBgMarkWorker$')"
echo "raw profile: $WORK/cpu.pprof (go tool pprof -http=: $WORK/portcullis $WORK/cpu.pprof)"
