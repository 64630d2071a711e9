#!/usr/bin/env bash
# Portcullis benchmark against nginx, HAProxy, Caddy, a bare Go
# httputil.ReverseProxy and (when KRAKEND_BIN names a binary) KrakenD, all on
# 127.0.0.1 behind the same tiny Go upstream.
#
#   bench/run.sh                 # everything, 5 interleaved rounds (~25 min)
#   REPS=3 DURATION=5s bench/run.sh
#   TARGETS="direct bare-go pc-plain" EXTRAS=0 bench/run.sh
#
# What it does, in order:
#   1. installs wrk, nginx, haproxy, caddy, openssl, curl, jq with apt when
#      missing (root or sudo), builds portcullis, the upstream, the bare Go
#      proxy, the load generator and the JWT generator;
#   2. starts every target (pinned: servers on SERVER_CPUS, wrk on WRK_CPUS);
#   3. checks each answers correctly first: 200 with valid credentials, and
#      401/403 without and with forged ones on the JWT and API-key targets;
#   4. runs REPS rounds, every target once per round in a rotated order,
#      wrk -d DURATION each, and records req/s, p50, p99 and the proxy's CPU
#      time per request (utime+stime from /proc, all threads and children);
#   5. extras (EXTRAS=1): p99 latency at half of Portcullis's own maximum
#      throughput against direct at the same rate (open-loop load, no
#      coordinated omission), and the RSS of Portcullis holding 10,000 idle
#      keep-alive connections;
#   6. writes bench/RESULTS.md (date, commit, machine, parameters, tables,
#      and the input-validation section of bench/validation.sh)
#      and the raw data under bench/results/<timestamp>/.
#
# Every load loop is bounded in time (wrk -d, loadgen -duration/-hold), and
# every URL is refused unless it is on the loopback interface.
#
# Knobs (defaults in brackets): DURATION [10s] WARMUP [2s] REPS [5]
# THREADS [2] CONNS [64] SERVER_CPUS [0] WRK_CPUS [1] PORT_BASE [18100]
# TARGETS [all] EXTRAS [1] IDLE_CONNS [10000] KRAKEND_BIN [unset: skipped]
# NO_INSTALL [unset: set to 1 to never call apt-get] VALIDATION [1: add the
# in-process section of bench/validation.sh]
# MONITOR_COST [1]: also run bench/monitor-cost.sh (the security monitor's
# cost per request, a Go benchmark) and add its section
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
REPS=${REPS:-5}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
SERVER_CPUS=${SERVER_CPUS:-0}
WRK_CPUS=${WRK_CPUS:-1}
PORT_BASE=${PORT_BASE:-18100}
EXTRAS=${EXTRAS:-1}
IDLE_CONNS=${IDLE_CONNS:-10000}
KRAKEND_BIN=${KRAKEND_BIN:-}
PATH_REQ=/api/echo
JWT_ISSUER=https://issuer.bench.local
JWT_AUDIENCE=bench-api
WORK=${WORK:-$(mktemp -d -t pcbench.XXXXXX)}
STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=${RESULTS:-$HERE/results/$STAMP}
ALL_TARGETS="direct nginx haproxy haproxy-jwt caddy krakend krakend-jwt bare-go go-tuned pc-plain pc-routes10k pc-jwt pc-jwt-nocache pc-jwt-rl-log pc-apikey-rl nginx-tls13 pc-tls13 pc-tls13-jwt-rl-log"
TARGETS=${TARGETS:-$ALL_TARGETS}

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# ------------------------------------------------------------------ ports
declare -A PORT=()
i=0
for t in upstream $ALL_TARGETS admin; do PORT[$t]=$((PORT_BASE + i)); i=$((i + 1)); done

# ------------------------------------------------------------------ tools
install_missing() {
	local need=() cmd pkg
	for pair in wrk:wrk nginx:nginx haproxy:haproxy caddy:caddy openssl:openssl curl:curl jq:jq taskset:util-linux; do
		cmd=${pair%%:*} pkg=${pair##*:}
		command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] || need+=("$pkg")
	done
	[ ${#need[@]} -eq 0 ] && return
	if [ "${NO_INSTALL:-}" = 1 ]; then log "missing (not installing): ${need[*]}"; return; fi
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	log "installing ${need[*]}"
	$sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null ||
		log "apt-get failed; targets needing ${need[*]} will be skipped"
	# Debian starts nginx/haproxy/caddy services on install; they must not
	# compete for the CPU.
	for s in nginx haproxy caddy; do $sudo service "$s" stop >/dev/null 2>&1 || true; done
}

NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY_BIN=$(command -v haproxy || echo /usr/sbin/haproxy)
CADDY_BIN=$(command -v caddy || echo /usr/bin/caddy)

assert_loopback() {
	local host
	host=$(printf '%s' "$1" | sed -E 's#^[a-zA-Z]+://##; s#/.*$##; s#:[0-9]+$##')
	[[ $host =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "refusing non-loopback target '$1'"
}

build() {
	mkdir -p "$WORK/bin" "$WORK/keys" "$WORK/tls"
	log "building portcullis and bench tools (GOTOOLCHAIN=$GOTOOLCHAIN)"
	(cd "$ROOT" && go build -trimpath -o "$WORK/bin/portcullis" ./cmd/portcullis &&
		for t in upstream bareproxy loadgen jwtgen; do go build -trimpath -o "$WORK/bin/$t" "./bench/$t" || exit 1; done) ||
		die "build failed"
	"$WORK/bin/jwtgen" -out "$WORK/keys" -iss "$JWT_ISSUER" -aud "$JWT_AUDIENCE" 2>/dev/null || die "jwtgen failed"
	TOKEN=$(cat "$WORK/keys/token.txt")
	BAD_TOKEN=$(cat "$WORK/keys/bad-token.txt")
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=127.0.0.1" \
		-addext "subjectAltName=IP:127.0.0.1" -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" >/dev/null 2>&1 ||
		die "openssl failed"
}

# ------------------------------------------------------------------ processes
declare -A TPID=() TURL=() TKIND=() TSTATE=() THDR=()
ALLPIDS=()
SERVER_PREFIX=(taskset -c "$SERVER_CPUS")
WRK_PREFIX=(taskset -c "$WRK_CPUS")

stop_all() {
	local p
	for p in "${ALLPIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	sleep 0.5
	for p in "${ALLPIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	ALLPIDS=()
}
trap stop_all EXIT
trap 'log interrupted; exit 130' INT TERM

start_bg() { # name cmd...
	local name=$1
	shift
	"${SERVER_PREFIX[@]}" "$@" >"$WORK/$name.log" 2>&1 &
	LASTPID=$!
	ALLPIDS+=("$LASTPID")
}

wait_http() { # url pid
	local i code
	for i in $(seq 1 150); do
		kill -0 "$2" 2>/dev/null || return 1
		code=$(curl -sk -o /dev/null -m 1 -w '%{http_code}' "$1" 2>/dev/null)
		[ -n "$code" ] && [ "$code" != 000 ] && return 0
		sleep 0.1
	done
	return 1
}

cpu_ticks() { # pids... -> utime+stime of them and their threads
	local sum=0 p v
	for p in "$@"; do
		v=$(awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null) || continue
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
CLK_TCK=$(getconf CLK_TCK)

rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null; }

# ------------------------------------------------------------------ configs
write_peer_configs() {
	local d=$WORK/conf
	mkdir -p "$d/nginx/logs" "$d/nginx-tls13/logs" "$d/caddy"
	nginx_conf() { # port listen-extra server-extra
		cat <<EOF
worker_processes 1;
pid $d/nginx$4/nginx.pid;
error_log $d/nginx$4/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests 1000000;
    upstream bench_up { server 127.0.0.1:${PORT[upstream]}; keepalive 128; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$1 $2;
        $3
        location / { proxy_pass http://bench_up; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
EOF
	}
	nginx_conf "${PORT[nginx]}" "" "" "" >"$d/nginx.conf"
	nginx_conf "${PORT[nginx-tls13]}" "ssl" "ssl_certificate $WORK/tls/cert.pem; ssl_certificate_key $WORK/tls/key.pem; ssl_protocols TLSv1.3;" "-tls13" >"$d/nginx-tls13.conf"

	local hap="global
    nbthread 1
    maxconn 8000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always
backend be_up
    server up1 127.0.0.1:${PORT[upstream]} maxconn 1000"
	printf '%s\nfrontend fe\n    bind 127.0.0.1:%s\n    default_backend be_up\n' "$hap" "${PORT[haproxy]}" >"$d/haproxy.cfg"
	cat >"$d/haproxy-jwt.cfg" <<EOF
$hap
frontend fe_jwt
    bind 127.0.0.1:${PORT[haproxy-jwt]}
    http-request set-var(txn.bearer) http_auth_bearer
    http-request set-var(txn.now) date
    acl has_bearer var(txn.bearer) -m found
    acl alg_ok var(txn.bearer),jwt_header_query('\$.alg') -m str RS256
    acl sig_ok var(txn.bearer),jwt_verify("RS256","$WORK/keys/pub.pem") -m int 1
    acl iss_ok var(txn.bearer),jwt_payload_query('\$.iss') -m str $JWT_ISSUER
    acl aud_ok var(txn.bearer),jwt_payload_query('\$.aud') -m str $JWT_AUDIENCE
    acl exp_ok var(txn.bearer),jwt_payload_query('\$.exp','int'),sub(txn.now) -m int gt 0
    http-request deny deny_status 401 unless has_bearer alg_ok sig_ok iss_ok aud_ok exp_ok
    default_backend be_up
EOF
	cat >"$d/Caddyfile" <<EOF
{
    admin off
    auto_https off
    storage file_system $d/caddy/data
}
http://127.0.0.1:${PORT[caddy]} {
    bind 127.0.0.1
    reverse_proxy 127.0.0.1:${PORT[upstream]} {
        transport http {
            keepalive 90s
            keepalive_idle_conns_per_host 128
        }
    }
}
EOF
	krakend_cfg() { # port jwt(yes/no)
		local auth=""
		[ "$2" = yes ] && auth=', "extra_config": {"auth/validator": {"alg": "RS256", "jwk_local_path": "'"$WORK/keys/jwks.json"'", "disable_jwk_security": true, "cache": false, "issuer": "'"$JWT_ISSUER"'", "audience": ["'"$JWT_AUDIENCE"'"]}}'
		cat <<EOF
{"version": 3, "name": "pcbench", "port": $1, "listen_ip": "127.0.0.1", "timeout": "5s",
 "extra_config": {"router": {"disable_access_log": true, "return_error_msg": false}, "telemetry/logging": {"level": "ERROR", "stdout": true}},
 "endpoints": [{"endpoint": "$PATH_REQ", "method": "GET", "output_encoding": "no-op", "input_headers": ["*"],
   "backend": [{"host": ["http://127.0.0.1:${PORT[upstream]}"], "url_pattern": "$PATH_REQ", "encoding": "no-op"}]$auth}]}
EOF
	}
	krakend_cfg "${PORT[krakend]}" no >"$d/krakend.json"
	krakend_cfg "${PORT[krakend-jwt]}" yes >"$d/krakend-jwt.json"
}

# pc_config TARGET: the Portcullis configuration of one scenario.
pc_config() {
	local t=$1 port=${PORT[$1]} auth="auth: none" routes_extra="" authn="" limits="" access="enabled: false" listener keys=""
	listener="    insecure: true"
	case $t in
	pc-jwt | pc-jwt-nocache | pc-jwt-rl-log | pc-tls13-jwt-rl-log)
		authn="authenticators:
  - name: bench-jwt
    jwt:
      issuers:
        - issuer: \"$JWT_ISSUER\"
          audiences: [\"$JWT_AUDIENCE\"]
          jwks_file: \"$WORK/keys/jwks.json\"
          algorithms: [RS256]"
		[ "$t" = pc-jwt-nocache ] && authn="$authn
      disable_cache: true"
		auth="auth: {authenticators: [bench-jwt]}"
		;;
	pc-apikey-rl)
		authn="authenticators:
  - name: bench-keys
    api_key:
      header: X-API-Key"
		auth="auth: {authenticators: [bench-keys]}"
		keys="keys:
  store: {driver: sqlite, path: \"$WORK/keys.db\"}
  environment: test
  pepper: {file: \"$WORK/pepper\"}
  master_key: {file: \"$WORK/master.key\"}
admin:
  enabled: true
  address: \"127.0.0.1:${PORT[admin]}\"
  tls: {cert_file: \"$WORK/tls/cert.pem\", key_file: \"$WORK/tls/key.pem\"}"
		;;
	esac
	case $t in pc-tls13*)
		listener="    tls: {cert_file: \"$WORK/tls/cert.pem\", key_file: \"$WORK/tls/key.pem\", min_version: \"1.3\"}"
		;;
	esac
	case $t in
	pc-jwt-rl-log | pc-tls13-jwt-rl-log | pc-apikey-rl)
		# A real per-consumer limit, high enough that the benchmark is
		# never throttled: every request pays for the check.
		limits="rate_limits:
  store: {type: memory}
  policies:
    - name: per-consumer
      key: [consumer]
      rate: {limit: 1000000, period: 1s}"
		routes_extra="    rate_limits: [per-consumer]"
		;;
	esac
	case $t in pc-jwt-rl-log | pc-tls13-jwt-rl-log) access="output: \"$WORK/$t-access.log\"" ;; esac
	local nroutes=10
	[ "$t" = pc-routes10k ] && nroutes=10000
	cat <<EOF
listeners:
  - name: public
    address: "127.0.0.1:$port"
$listener
    limits: {max_connections: 50000}
ops: {disabled: true}
upstreams:
  - name: up
    targets: ["http://127.0.0.1:${PORT[upstream]}"]
$authn
$keys
$limits
logging:
  level: warn
  access:
    $access
routes:
  - name: echo
    path: $PATH_REQ
    methods: [GET]
    upstream: up
    $auth
$routes_extra
EOF
	# Filler routes, so the routing table has the size the scenario names.
	local k
	for ((k = 1; k < nroutes; k++)); do
		printf '  - {name: r%d, path: "/api/v1/svc%d/items/{id}", methods: [GET], upstream: up, auth: none}\n' "$k" "$k"
	done
}

# ------------------------------------------------------------------ targets
start_target() {
	local t=$1 d=$WORK/conf
	TKIND[$t]=plain THDR[$t]=""
	case $t in
	direct) TURL[$t]="http://127.0.0.1:${PORT[upstream]}$PATH_REQ" TPID[$t]=${TPID[upstream]} ;;
	nginx | nginx-tls13)
		[ -x "$NGINX_BIN" ] || { TSTATE[$t]="skipped: nginx not installed"; return; }
		start_bg "$t" "$NGINX_BIN" -p "$d/$t" -e "$d/$t/logs/error.log" -c "$d/$t.conf" -g 'daemon off;'
		TPID[$t]=$LASTPID
		if [ "$t" = nginx ]; then TURL[$t]="http://127.0.0.1:${PORT[$t]}$PATH_REQ"; else TURL[$t]="https://127.0.0.1:${PORT[$t]}$PATH_REQ"; fi
		;;
	haproxy | haproxy-jwt)
		[ -x "$HAPROXY_BIN" ] || { TSTATE[$t]="skipped: haproxy not installed"; return; }
		start_bg "$t" "$HAPROXY_BIN" -db -f "$d/$t.cfg"
		TPID[$t]=$LASTPID TURL[$t]="http://127.0.0.1:${PORT[$t]}$PATH_REQ"
		[ "$t" = haproxy-jwt ] && TKIND[$t]=jwt
		;;
	caddy)
		[ -x "$CADDY_BIN" ] || { TSTATE[$t]="skipped: caddy not installed"; return; }
		HOME=$d/caddy XDG_DATA_HOME=$d/caddy XDG_CONFIG_HOME=$d/caddy start_bg "$t" "$CADDY_BIN" run --adapter caddyfile --config "$d/Caddyfile"
		TPID[$t]=$LASTPID TURL[$t]="http://127.0.0.1:${PORT[$t]}$PATH_REQ"
		;;
	krakend | krakend-jwt)
		[ -n "$KRAKEND_BIN" ] && [ -x "$KRAKEND_BIN" ] || { TSTATE[$t]="skipped: set KRAKEND_BIN to a KrakenD CE binary"; return; }
		USAGE_DISABLE=1 start_bg "$t" "$KRAKEND_BIN" run -c "$d/$t.json"
		TPID[$t]=$LASTPID TURL[$t]="http://127.0.0.1:${PORT[$t]}$PATH_REQ"
		[ "$t" = krakend-jwt ] && TKIND[$t]=jwt
		;;
	bare-go | go-tuned)
		local tuned=false
		[ "$t" = go-tuned ] && tuned=true
		start_bg "$t" "$WORK/bin/bareproxy" -port "${PORT[$t]}" -upstream "http://127.0.0.1:${PORT[upstream]}" -tuned="$tuned"
		TPID[$t]=$LASTPID TURL[$t]="http://127.0.0.1:${PORT[$t]}$PATH_REQ"
		;;
	pc-*)
		pc_config "$t" >"$d/$t.yaml"
		if [ "$t" = pc-apikey-rl ]; then
			head -c 48 /dev/urandom | base64 >"$WORK/pepper"
			echo "v1:$(head -c 32 /dev/urandom | base64)" >"$WORK/master.key"
			chmod 600 "$WORK/pepper" "$WORK/master.key"
		fi
		"$WORK/bin/portcullis" validate --config "$d/$t.yaml" >/dev/null 2>"$WORK/$t.validate" ||
			{ TSTATE[$t]="failed: invalid config ($(head -3 "$WORK/$t.validate" | tr '\n' ' '))"; return; }
		start_bg "$t" "$WORK/bin/portcullis" serve --config "$d/$t.yaml"
		TPID[$t]=$LASTPID
		if [[ $t = pc-tls13* ]]; then TURL[$t]="https://127.0.0.1:${PORT[$t]}$PATH_REQ"; else TURL[$t]="http://127.0.0.1:${PORT[$t]}$PATH_REQ"; fi
		case $t in pc-jwt* | pc-tls13-jwt*) TKIND[$t]=jwt ;; pc-apikey-rl) TKIND[$t]=apikey ;; esac
		;;
	*) die "unknown target $t" ;;
	esac
	assert_loopback "${TURL[$t]}"
	wait_http "${TURL[$t]}" "${TPID[$t]}" || { TSTATE[$t]="failed: did not come up (see $WORK/$t.log)"; return; }
	if [ "$t" = pc-apikey-rl ]; then
		issue_api_key || { TSTATE[$t]="failed: could not issue an API key"; return; }
	fi
	TSTATE[$t]=ok
}

# issue_api_key creates a consumer and key through the admin API, as an
# operator would (bootstrap token, then the CLI).
issue_api_key() {
	local bin=$WORK/bin/portcullis cfg=$WORK/conf/pc-apikey-rl.yaml cid
	export PORTCULLIS_ADMIN_URL="https://127.0.0.1:${PORT[admin]}" PORTCULLIS_ADMIN_CA="$WORK/tls/cert.pem"
	PORTCULLIS_ADMIN_TOKEN=$("$bin" admin bootstrap --config "$cfg" 2>/dev/null) || return 1
	export PORTCULLIS_ADMIN_TOKEN
	cid=$("$bin" consumers create --name bench 2>/dev/null | jq -r .id) || return 1
	API_KEY=$("$bin" keys create --consumer "$cid" 2>/dev/null | jq -r .secret) || return 1
	[ -n "$API_KEY" ] && [ "$API_KEY" != null ]
}

# sanity: same 200 body through every target; credentials enforced where
# they should be.
sanity() {
	local t=$1 code body=$WORK/$t.body c1 c2
	[ "${TSTATE[$t]}" = ok ] || return
	case ${TKIND[$t]} in
	apikey) THDR[$t]="X-API-Key: $API_KEY" ;;
	*) THDR[$t]="Authorization: Bearer $TOKEN" ;;
	esac
	code=$(curl -sk -m 2 -o "$body" -w '%{http_code}' -H "${THDR[$t]}" "${TURL[$t]}")
	if [ "$code" != 200 ] || ! grep -q '"service":"bench-upstream"' "$body"; then
		TSTATE[$t]="failed: valid request got HTTP $code"
		return
	fi
	case ${TKIND[$t]} in
	jwt)
		c1=$(curl -sk -m 2 -o /dev/null -w '%{http_code}' "${TURL[$t]}")
		c2=$(curl -sk -m 2 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $BAD_TOKEN" "${TURL[$t]}")
		;;
	apikey)
		c1=$(curl -sk -m 2 -o /dev/null -w '%{http_code}' "${TURL[$t]}")
		c2=$(curl -sk -m 2 -o /dev/null -w '%{http_code}' -H "X-API-Key: ${API_KEY%?}x" "${TURL[$t]}")
		;;
	*) log "sanity $t: 200"; return ;;
	esac
	case "$c1$c2" in
	401401 | 401403 | 403401 | 403403) log "sanity $t: valid=200 missing=$c1 forged=$c2" ;;
	*) TSTATE[$t]="failed: credentials not enforced (missing -> $c1, forged -> $c2)" ;;
	esac
}

# ------------------------------------------------------------------ measure
to_ms() {
	awk -v v="$1" 'BEGIN{
		if (v ~ /us$/) { sub(/us$/,"",v); printf "%.4f", v/1000 }
		else if (v ~ /ms$/) { sub(/ms$/,"",v); printf "%.4f", v }
		else if (v ~ /s$/) { sub(/s$/,"",v); printf "%.4f", v*1000 }
		else printf "NaN" }'
}

run_wrk() { # target duration out
	"${WRK_PREFIX[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$2" --timeout 5s --latency -H "${THDR[$1]}" "${TURL[$1]}" >"$3" 2>&1
}

measure() { # target round
	local t=$1 r=$2 out=$RESULTS/raw/r$2-$1.txt pids=() c0 c1 rps p50 p99 reqs bad pcpu
	[ "$t" = direct ] || mapfile -t pids < <(echo "${TPID[$t]}"; pgrep -P "${TPID[$t]}")
	c0=$(cpu_ticks "${pids[@]}")
	run_wrk "$t" "$DURATION" "$out"
	c1=$(cpu_ticks "${pids[@]}")
	rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
	reqs=$(awk '/requests in/{print $1}' "$out")
	p50=$(to_ms "$(awk '$1=="50%"{print $2}' "$out")")
	p99=$(to_ms "$(awk '$1=="99%"{print $2}' "$out")")
	bad=$(awk '/Non-2xx or 3xx responses:/{n+=$NF} /Socket errors:/{gsub(",","");n+=$4+$6+$8+$10} END{print n+0}' "$out")
	[ -n "$rps" ] && [ -n "$reqs" ] && [ "$reqs" != 0 ] || { log "wrk failed for $t"; return; }
	pcpu=0
	[ "$t" = direct ] || pcpu=$(awk -v a="$c0" -v b="$c1" -v n="$reqs" -v hz="$CLK_TCK" 'BEGIN{printf "%.2f",(b-a)/hz*1e6/n}')
	echo "$r,$t,$rps,$p50,$p99,$reqs,$bad,$pcpu" >>"$CSV"
	log "r$r $t: ${rps} rps p50=${p50}ms p99=${p99}ms cpu=${pcpu}us/req errors=$bad"
}

median_of() { # target column(3=rps,4=p50,5=p99,8=cpu)
	awk -F, -v t="$1" -v c="$2" 'NR>1 && $2==t {v[++n]=$c} END{
		if (!n) { print ""; exit }
		for (i=2;i<=n;i++){x=v[i];for(j=i-1;j>=1&&v[j]+0>x+0;j--)v[j+1]=v[j];v[j+1]=x}
		print (n%2)?v[(n+1)/2]:(v[n/2]+v[n/2+1])/2 }' "$CSV"
}

# ------------------------------------------------------------------ extras
extra_p99() { # p99 at half of pc-plain's maximum throughput, vs direct
	local max rate out
	max=$(median_of pc-plain 3)
	[ -n "$max" ] || return
	rate=$(awk -v m="$max" 'BEGIN{printf "%d", m/2}')
	# A single p99 is too noisy on a shared VM (the direct p99 alone moved
	# from 4.2 to 5.6 ms between two runs): REPS interleaved rounds, order
	# swapped each round, and the report takes the medians.
	local r order
	for r in $(seq 1 "$REPS"); do
		order="direct pc-plain"
		[ $((r % 2)) = 0 ] && order="pc-plain direct"
		for t in $order; do
			out=$("${WRK_PREFIX[@]}" "$WORK/bin/loadgen" rate -url "${TURL[$t]}" -rate "$rate" -duration "$DURATION" -conns "$CONNS" -header "${THDR[$t]}")
			log "r$r open-loop $rate req/s on $t: $out"
			echo "$t,$rate,$out" >>"$RESULTS/p99-half-load.csv"
		done
	done
}

# median_p99 prints the median p99 (ms) of target $1 in p99-half-load.csv.
median_p99() {
	sed -n "s/^$1,.*p99_ms=\([0-9.]*\).*/\1/p" "$RESULTS/p99-half-load.csv" | sort -g |
		awk '{v[++n]=$1} END{if (!n) exit; print (n%2)?v[(n+1)/2]:(v[n/2]+v[n/2+1])/2}'
}

extra_idle() { # RSS of pc-plain holding IDLE_CONNS idle keep-alive connections
	local pid=${TPID[pc-plain]} before after fifo out
	[ -n "$pid" ] || return
	ulimit -n "$(ulimit -Hn)" 2>/dev/null
	before=$(rss_kib "$pid")
	fifo=$WORK/idle.out
	"$WORK/bin/loadgen" idle -url "${TURL[pc-plain]}" -conns "$IDLE_CONNS" -hold 20s -header "${THDR[pc-plain]}" >"$fifo" 2>&1 &
	local lg=$!
	for _ in $(seq 1 600); do grep -q '^ready' "$fifo" && break; sleep 0.1; done
	sleep 1
	after=$(rss_kib "$pid")
	out=$(grep '^ready' "$fifo")
	kill "$lg" 2>/dev/null; wait "$lg" 2>/dev/null
	echo "$before,$after,$out" >"$RESULTS/idle-conns.csv"
	log "pc-plain RSS: ${before} KiB idle -> ${after} KiB with $out"
}

# ------------------------------------------------------------------ report helpers
describe() {
	case $1 in
	direct) echo "wrk straight to the upstream (the ceiling)" ;;
	nginx) echo "nginx, plain proxy, upstream keepalive" ;;
	haproxy) echo "HAProxy, plain proxy, http-reuse always" ;;
	haproxy-jwt) echo "HAProxy + jwt_verify RS256 (alg/iss/aud/exp)" ;;
	caddy) echo "Caddy reverse_proxy" ;;
	krakend) echo "KrakenD CE, no-op endpoint" ;;
	krakend-jwt) echo "KrakenD CE + auth/validator RS256" ;;
	bare-go) echo "Go httputil.ReverseProxy, all defaults" ;;
	go-tuned) echo "Go httputil.ReverseProxy, 256 idle upstream conns (net/http floor)" ;;
	pc-plain) echo "Portcullis, plain proxy, 10 routes" ;;
	pc-routes10k) echo "Portcullis, plain proxy, 10,000 routes" ;;
	pc-jwt) echo "Portcullis + JWT RS256 (verified-token cache on)" ;;
	pc-jwt-nocache) echo "Portcullis + JWT RS256, every token verified" ;;
	pc-jwt-rl-log) echo "Portcullis + JWT RS256 + rate limit (memory) + access log to a file" ;;
	pc-apikey-rl) echo "Portcullis + API key (SQLite store, cached) + rate limit" ;;
	nginx-tls13) echo "nginx over HTTPS, TLS 1.3" ;;
	pc-tls13) echo "Portcullis over HTTPS, TLS 1.3, plain proxy" ;;
	pc-tls13-jwt-rl-log) echo "Portcullis over HTTPS, TLS 1.3, + JWT RS256 + rate limit + access log" ;;
	*) echo "$1" ;;
	esac
}

# verdict VALUE OP LIMIT: "met" or "NOT met"
verdict() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN{ok=(op=="<=")?(a<=b):(a>=b); print ok?"met":"NOT met"}'; }

targets_report() {
	local c_pc c_bare c_jwt c_hap r_jwt r_kjwt c10 c10k
	echo
	echo "## Targets (issues 6 and 18), from this run"
	echo
	echo "| target | measured | verdict |"
	echo "|---|---|---|"
	c_pc=$(median_of pc-plain 8) c_bare=$(median_of bare-go 8)
	if [ -n "$c_pc" ] && [ -n "$c_bare" ]; then
		echo "| plain proxy CPU/req <= 0.6x bare httputil.ReverseProxy | $c_pc µs vs $c_bare µs = $(awk -v a="$c_pc" -v b="$c_bare" 'BEGIN{printf "%.2fx", a/b}') | $(verdict "$c_pc" '<=' "$(awk -v b="$c_bare" 'BEGIN{print 0.6*b}')") |"
	fi
	c_jwt=$(median_of pc-jwt-rl-log 8) c_hap=$(median_of haproxy-jwt 8)
	if [ -n "$c_jwt" ] && [ -n "$c_hap" ]; then
		echo "| JWT + rate limit + access log CPU/req <= HAProxy jwt_verify | $c_jwt µs vs $c_hap µs | $(verdict "$c_jwt" '<=' "$c_hap") |"
	fi
	r_jwt=$(median_of pc-jwt-rl-log 3) r_kjwt=$(median_of krakend-jwt 3)
	if [ -n "$r_jwt" ] && [ -n "$r_kjwt" ]; then
		echo "| JWT + rate limit + log req/s >= 3x KrakenD + JWT | $r_jwt vs $r_kjwt = $(awk -v a="$r_jwt" -v b="$r_kjwt" 'BEGIN{printf "%.1fx", a/b}') | $(verdict "$r_jwt" '>=' "$(awk -v b="$r_kjwt" 'BEGIN{print 3*b}')") |"
	else
		echo "| JWT + rate limit + log req/s >= 3x KrakenD + JWT | KrakenD not run (set KRAKEND_BIN) | not measured |"
	fi
	local c_go c_tls c_ntls c_plain
	c_go=$(median_of go-tuned 8)
	if [ -n "$c_jwt" ] && [ -n "$c_go" ]; then
		echo "| JWT + rate limit + access log CPU/req <= 0.75x go-tuned (issue 18) | $c_jwt µs vs $c_go µs = $(awk -v a="$c_jwt" -v b="$c_go" 'BEGIN{printf "%.2fx", a/b}') | $(verdict "$c_jwt" '<=' "$(awk -v b="$c_go" 'BEGIN{print 0.75*b}')") |"
	fi
	c_tls=$(median_of pc-tls13-jwt-rl-log 8) c_ntls=$(median_of nginx-tls13 8)
	if [ -n "$c_tls" ] && [ -n "$c_ntls" ]; then
		echo "| HTTPS (TLS 1.3) JWT + rate limit + log CPU/req <= 2.5x nginx-TLS (issue 18) | $c_tls µs vs $c_ntls µs = $(awk -v a="$c_tls" -v b="$c_ntls" 'BEGIN{printf "%.2fx", a/b}') | $(verdict "$c_tls" '<=' "$(awk -v b="$c_ntls" 'BEGIN{print 2.5*b}')") |"
	fi
	c_plain=$(median_of pc-plain 8)
	if [ -n "$c_plain" ] && [ -n "$c_go" ]; then
		echo "| plain proxy CPU/req vs go-tuned (reported) | $c_plain µs vs $c_go µs = $(awk -v a="$c_plain" -v b="$c_go" 'BEGIN{printf "%.2fx", a/b}') | reported |"
	fi
	if [ -n "$c_jwt" ] && [ -n "$c_hap" ]; then
		echo "| JWT + rate limit + log CPU/req vs HAProxy jwt_verify (reported, the long-run anchor) | $(awk -v a="$c_jwt" -v b="$c_hap" 'BEGIN{printf "%.2fx", a/b}') | reported |"
	fi
	if [ -f "$RESULTS/p99-half-load.csv" ]; then
		local pd pp rate
		rate=$(awk -F, '$1=="pc-plain"{print $2; exit}' "$RESULTS/p99-half-load.csv")
		pd=$(median_p99 direct)
		pp=$(median_p99 pc-plain)
		echo "| p99 at half of Portcullis's max throughput ($rate req/s, open loop, median of $REPS interleaved runs) within 1 ms of direct | $pp ms vs $pd ms (+$(awk -v a="$pp" -v b="$pd" 'BEGIN{printf "%.3f", a-b}') ms) | $(verdict "$(awk -v a="$pp" -v b="$pd" 'BEGIN{print a-b}')" '<=' 1) |"
	fi
	c10=$(median_of pc-plain 8) c10k=$(median_of pc-routes10k 8)
	if [ -n "$c10" ] && [ -n "$c10k" ]; then
		echo "| routing: 10 vs 10,000 routes within 10 % (CPU/req) | $c10 µs vs $c10k µs ($(awk -v a="$c10" -v b="$c10k" 'BEGIN{printf "%+.1f %%", (b-a)/a*100}')) | $(verdict "$(awk -v a="$c10" -v b="$c10k" 'BEGIN{d=(b-a)/a; if(d<0)d=-d; print d}')" '<=' 0.10) |"
	fi
	if [ -f "$RESULTS/idle-conns.csv" ]; then
		IFS=, read -r before after ready <"$RESULTS/idle-conns.csv"
		local n=${ready#ready n=}
		n=${n%% *}
		echo "| RSS with $n idle keep-alive connections (reported) | $before KiB idle, $after KiB held: $(awk -v a="$before" -v b="$after" -v n="$n" 'BEGIN{if(n>0)printf "%.1f KiB per connection", (b-a)/n}') | reported |"
	fi
}

# ------------------------------------------------------------------ main
install_missing
command -v wrk >/dev/null || die "wrk is required (apt-get install wrk)"
build
mkdir -p "$RESULTS/raw"
CSV=$RESULTS/runs.csv
echo "round,target,rps,p50_ms,p99_ms,requests,errors,proxy_cpu_us_per_req" >"$CSV"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || log "could not raise the open-file limit"
write_peer_configs
start_bg upstream "$WORK/bin/upstream" -port "${PORT[upstream]}"
TPID[upstream]=$LASTPID
wait_http "http://127.0.0.1:${PORT[upstream]}/" "$LASTPID" || die "upstream did not start"
for t in $TARGETS; do start_target "$t"; done
for t in $TARGETS; do sanity "$t"; done
active=()
for t in $TARGETS; do
	if [ "${TSTATE[$t]}" = ok ]; then active+=("$t"); else log "$t: ${TSTATE[$t]}"; fi
done
[ ${#active[@]} -gt 0 ] || die "no target is up"
for t in "${active[@]}"; do run_wrk "$t" "$WARMUP" "$RESULTS/raw/warmup-$t.txt"; done
n=${#active[@]}
for r in $(seq 1 "$REPS"); do
	for k in $(seq 0 $((n - 1))); do measure "${active[$(((k + r - 1) % n))]}" "$r"; done
done
if [ "$EXTRAS" = 1 ] && [ "${TSTATE[pc-plain]:-}" = ok ]; then
	extra_p99
	extra_idle
fi
stop_all

# ------------------------------------------------------------------ report
KEPT_MARKER='<!-- kept by bench/run.sh: sections measured by hand -->'
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo " (uncommitted changes)")
{
	echo "# Benchmark results"
	echo
	echo "Generated by \`bench/run.sh\` — do not edit by hand; rerun it."
	echo
	echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "- commit: $commit$dirty"
	echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
	echo "- go: $(go version | awk '{print $3}'); wrk: $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
	[ -x "$NGINX_BIN" ] && echo "- nginx: $("$NGINX_BIN" -v 2>&1 | sed 's/.*version: //')"
	[ -x "$HAPROXY_BIN" ] && echo "- haproxy: $("$HAPROXY_BIN" -v 2>&1 | head -1 | awk '{print $3}')"
	[ -x "$CADDY_BIN" ] && echo "- caddy: $("$CADDY_BIN" version 2>&1 | head -1 | awk '{print $1}')"
	echo "- load: wrk -t$THREADS -c$CONNS -d$DURATION, $REPS interleaved rounds (order rotated each round), servers pinned to CPU $SERVER_CPUS, wrk to CPU $WRK_CPUS; every request carries an RS256 JWT (the API-key target an X-API-Key instead)"
	echo
	echo "| target | what it does | req/s | p50 ms | p99 ms | proxy CPU µs/req | ratio to direct | errors |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	base=$(median_of direct 3)
	for t in $TARGETS; do
		[ "${TSTATE[$t]:-}" = ok ] || { echo "| $t | ${TSTATE[$t]:-not run} | | | | | | |"; continue; }
		rps=$(median_of "$t" 3)
		[ -n "$rps" ] || continue
		errs=$(awk -F, -v t="$t" 'NR>1&&$2==t{n+=$7}END{print n+0}' "$CSV")
		ratio=$(awk -v a="$rps" -v b="${base:-0}" 'BEGIN{if(b>0)printf "%.2f",a/b; else print "n/a"}')
		printf '| %s | %s | %.0f | %.3f | %.3f | %.1f | %s | %s |\n' "$t" "$(describe "$t")" "$rps" "$(median_of "$t" 4)" "$(median_of "$t" 5)" "$(median_of "$t" 8)" "$ratio" "$errs"
	done
	echo
	echo "Medians over the rounds. proxy CPU = utime+stime of the proxy process (all threads and children) / requests served; it is steadier than req/s on this noisy VM. Raw data: \`bench/results/$STAMP/\` (not committed)."
	targets_report
	if [ "${VALIDATION:-1}" = 1 ]; then echo; "$HERE/validation.sh"; fi
	[ "${MONITOR_COST:-1}" = 1 ] && "$HERE/monitor-cost.sh"
	# Sections measured by hand (in-process benchmarks of single features,
	# A/B runs of bench/ab.sh) live below this marker and are kept.
	if [ -f "$HERE/RESULTS.md" ] && grep -qF "$KEPT_MARKER" "$HERE/RESULTS.md"; then
		echo
		awk -v m="$KEPT_MARKER" 'index($0, m) == 1 {keep = 1} keep' "$HERE/RESULTS.md"
	fi
} >"$HERE/RESULTS.md.tmp"
mv "$HERE/RESULTS.md.tmp" "$HERE/RESULTS.md"
cp "$HERE/RESULTS.md" "$RESULTS/summary.md"
cat "$HERE/RESULTS.md"
log "results: $HERE/RESULTS.md and $RESULTS/"
