#!/usr/bin/env bash
# One line saying which MinIO build a running container is: the lab's patched build (and which
# advisories its patches close, from the image's labels) or another image with the 2026
# advisories open. `make up` prints it after MinIO is healthy.
# Usage: describe-minio.sh CONTAINER_ID
set -euo pipefail
id=${1:-}
[ -n "$id" ] || { echo "MinIO: no running minio container to describe"; exit 0; }
image=$(docker inspect -f '{{.Config.Image}}' "$id")
label() { docker inspect -f "{{ index .Config.Labels \"org.minio-torch-lab.$1\" }}" "$id" 2>/dev/null || true; }
build=$(label minio-patches) advisories=$(label minio-advisories)
if [ -n "$advisories" ]; then
  n=$(tr ',' '\n' <<<"$advisories" | grep -c .)
  # The tag names the build already; a retagged image says which build it is.
  [ "${image##*:}" = "$build" ] || image="$image (build $build)"
  echo "MinIO: the lab's build $image, closes $n advisories ($advisories); docs/security.md"
elif [ -n "$build" ]; then
  echo "MinIO: $image, the lab's UNPATCHED build $build: the 2026 advisories are open (docs/security.md)"
else
  echo "MinIO: $image is not the lab's patched build: the 2026 advisories may be open (docs/security.md)"
fi
