#!/usr/bin/env bash
# Print the path of the pinned uv, installing it once into a tools venv outside the clone.
# uv writes the locks (scripts/lock.sh) and installs the dev venv (make venv): from its cache a
# warm install of torch links files instead of unpacking gigabytes of wheels again.
set -euo pipefail
UV_VERSION=0.13.9
tools="${LAB_TOOLS_DIR:-$HOME/.cache/minio-torch-lab/tools-uv-$UV_VERSION}"
if [ ! -x "$tools/bin/uv" ]; then
  python3 -m venv "$tools" >&2
  "$tools/bin/pip" install -q "uv==$UV_VERSION" >&2
fi
echo "$tools/bin/uv"
