#!/usr/bin/env bash
# Builds the container image from a static binary: scripts/build.sh with
# CGO_ENABLED=0, then deploy/container/Dockerfile (FROM scratch) with the
# first of docker, podman or buildah that works. Without any, it says so
# and exits 3 (CI reports the step as skipped, loudly).
#   deploy/container/build.sh [TAG]     default portcullis:dev
set -euo pipefail
cd "$(dirname "$0")/../.."
tag="${1:-portcullis:dev}"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 scripts/build.sh "$ctx/portcullis"
if ldd "$ctx/portcullis" >/dev/null 2>&1; then
  echo "deploy/container/build.sh: the binary is not static" >&2; exit 1
fi
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
cp deploy/container/Dockerfile "$ctx/"
for engine in docker podman buildah; do
  command -v "$engine" >/dev/null || continue
  case "$engine" in
    buildah) cmd=(buildah bud) ;;
    *) cmd=("$engine" build) ;;
  esac
  if "$engine" info >/dev/null 2>&1; then
    "${cmd[@]}" -t "$tag" "$ctx"
    echo "built $tag with $engine"
    exit 0
  fi
  echo "deploy/container/build.sh: $engine is installed but cannot build here ($engine info failed)" >&2
done
echo "deploy/container/build.sh: SKIPPED: no working container engine (docker, podman, buildah); the image was NOT built" >&2
exit 3
