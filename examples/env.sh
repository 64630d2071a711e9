#!/usr/bin/env bash
# Prints `export` lines for every environment variable the files in
# examples/ read, with THROWAWAY values: certificates from a CA made on the
# spot (valid for 2 days), random secrets, and a local database address.
# Enough to run `portcullis validate` on any example, or to try one out;
# never for production, where these come from your own PKI and secret store.
#
#   eval "$(examples/env.sh)"              # files in a new temp dir
#   eval "$(examples/env.sh ./example-env)" # files in a directory you choose
#   ./portcullis validate --config examples/quickstart.yaml
#
# Needs openssl. The variables, and who reads them:
#   PORTCULLIS_TLS_CERT, PORTCULLIS_TLS_KEY    listener and admin API certificate (every example)
#   PORTCULLIS_CLIENT_CA                       CA of client certificates (auth, api-keys, production)
#   PORTCULLIS_UPSTREAM_CA                     CA of the upstreams' certificates
#   PORTCULLIS_UPSTREAM_CLIENT_CERT, _KEY      the gateway's client certificate for mTLS to upstreams (production)
#   PORTCULLIS_OTLP_CA                         CA of the OpenTelemetry collector (production)
#   PORTCULLIS_PEPPER, PORTCULLIS_MASTER_KEY   API-key secrets (api-keys*, production)
#   PORTCULLIS_KEYS_DB                         SQLite key store file, in this directory (api-keys)
#   PORTCULLIS_KEYS_DSN                        PostgreSQL key store (api-keys-cluster, production)
#   PORTCULLIS_REDIS_PASSWORD                  Redis rate-limit store (ratelimit, production)
#   PORTCULLIS_REDIS_CA                        CA of the Redis server's certificate (production)
#   PORTCULLIS_INTROSPECTION_SECRET            OAuth client secret for token introspection (auth)
set -euo pipefail
command -v openssl >/dev/null || { echo "examples/env.sh needs openssl" >&2; exit 1; }
dir="${1:-$(mktemp -d "${TMPDIR:-/tmp}/portcullis-example-env.XXXXXX")}"
mkdir -p "$dir"
chmod 700 "$dir"
dir=$(cd "$dir" && pwd)
cd "$dir"
umask 077

quiet() { "$@" >/dev/null 2>&1 || { echo "examples/env.sh: $* failed" >&2; exit 1; }; }
ec() { echo -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes; }
# leaf NAME SUBJECT-CN SAN EXTENDED-KEY-USAGE: a key and a certificate signed by the CA.
leaf() {
  quiet openssl req $(ec) -subj "/CN=$2" -keyout "$1.key" -out "$1.csr"
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$3" "$4" > "$1.ext"
  quiet openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt"
  rm -f "$1.csr" "$1.ext"
}
quiet openssl req -x509 $(ec) -days 2 -subj "/CN=Portcullis example CA (throwaway)" -keyout ca.key -out ca.crt
leaf server api.example.com "DNS:api.example.com,DNS:localhost,IP:127.0.0.1" serverAuth
leaf upstream-client portcullis-gateway "DNS:portcullis-gateway" clientAuth

out() { printf 'export %s=%q\n' "$1" "$2"; }
out PORTCULLIS_TLS_CERT "$dir/server.crt"
out PORTCULLIS_TLS_KEY "$dir/server.key"
out PORTCULLIS_CLIENT_CA "$dir/ca.crt"
out PORTCULLIS_UPSTREAM_CA "$dir/ca.crt"
out PORTCULLIS_UPSTREAM_CLIENT_CERT "$dir/upstream-client.crt"
out PORTCULLIS_UPSTREAM_CLIENT_KEY "$dir/upstream-client.key"
out PORTCULLIS_OTLP_CA "$dir/ca.crt"
out PORTCULLIS_PEPPER "$(openssl rand -base64 48)"
out PORTCULLIS_MASTER_KEY "v1:$(openssl rand -base64 32)"
out PORTCULLIS_KEYS_DB "$dir/keys.db"
out PORTCULLIS_KEYS_DSN "postgres://portcullis@127.0.0.1:5432/portcullis?sslmode=disable"
out PORTCULLIS_REDIS_PASSWORD "example-only-$(openssl rand -hex 8)"
out PORTCULLIS_REDIS_CA "$dir/ca.crt"
out PORTCULLIS_INTROSPECTION_SECRET "example-only-$(openssl rand -hex 8)"
