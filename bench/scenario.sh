# Sourced by bench/profile.sh and bench/ab.sh: the Portcullis config of one
# load scenario, so both measure the same thing.
#
# scenario_config SCENARIO PORT UPSTREAM_PORT WORK OPS_LINE [PROTOCOL]
#   SCENARIO  plain | jwt-rl-log (JWT RS256 + rate limit + access log)
#   OPS_LINE  the ops: value, e.g. "{disabled: true}"
#   PROTOCOL  upstreams[].protocol (default auto)
# The JWKS is $WORK/keys/jwks.json (bench/jwtgen -out $WORK/keys).
scenario_config() {
	local scenario=$1 port=$2 up=$3 work=$4 ops=$5 proto=${6:-auto}
	local auth="auth: none" extra="" limits="" access="access: {enabled: false}"
	if [ "$scenario" = jwt-rl-log ]; then
		auth="auth: {authenticators: [bench-jwt]}"
		limits="    rate_limits: [per-consumer]"
		access="access: {output: \"$work/access.log\"}"
		extra="authenticators:
  - name: bench-jwt
    jwt:
      issuers:
        - {issuer: \"https://issuer.bench.local\", audiences: [bench-api], jwks_file: \"$work/keys/jwks.json\", algorithms: [RS256]}
rate_limits:
  policies:
    - {name: per-consumer, key: [consumer], rate: {limit: 1000000, period: 1s}}"
	fi
	cat <<YAML
listeners:
  - {name: public, address: "127.0.0.1:$port", insecure: true}
ops: $ops
upstreams:
  - {name: up, targets: ["http://127.0.0.1:$up"], protocol: $proto}
$extra
logging:
  level: warn
  $access
routes:
  - name: echo
    path: /api/echo
    methods: [GET]
    upstream: up
    $auth
$limits
YAML
}
