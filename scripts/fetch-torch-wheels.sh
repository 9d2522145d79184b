#!/usr/bin/env bash
# torch for the trainer image when TORCH_INDEX_URL carries credentials (https://user:token@host/simple).
# A build arg shows in `docker history`, and the classic builder has no build secrets, so the
# credentials stay on the host: make build sets TORCH_BUILD_INDEX_URL=build/wheels, and this script
# has the host's pip download torch (and what it needs) into build/wheels/ for the base image's
# Python and platform. docker/lab.Dockerfile then installs it from there with --no-index.
# Otherwise it only removes wheels left from such a build, and the image uses the index as before.
#
#   TORCH_INDEX_URL=... TORCH_BUILD_INDEX_URL=... TORCH_VERSION=... fetch-torch-wheels.sh PYTHON_IMAGE
set -euo pipefail
die() { echo "fetch-torch-wheels: $*" >&2; exit 1; }
wheels=$(cd "$(dirname "$0")/.." && pwd)/build/wheels
image=${1:-}

if [ "${TORCH_BUILD_INDEX_URL:-}" != build/wheels ]; then
  rm -f "$wheels"/*.whl "$wheels/.target"
  exit 0
fi
[ -n "${TORCH_VERSION:-}" ] || die "TORCH_VERSION is not set (.env)"
[ -n "$image" ] || die "PYTHON_IMAGE is not set (.env)"
python=${PYTHON:-python3}
"$python" -m pip --version >/dev/null 2>&1 ||
  die "no pip for $python on this host: install python3-pip, or make venv and add PYTHON=.venv/bin/python"

# The image's Python, C library and machine: the wheels are for it, not for this host.
probe='import platform, sys; print("%d%d" % sys.version_info[:2], platform.libc_ver()[1], platform.machine())'
read -r py glibc machine < <(docker run --rm --entrypoint python3 "$image" -c "$probe") ||
  die "cannot run python3 in $image (PYTHON_IMAGE)"
[[ $glibc =~ ^2\.[0-9]+$ ]] || die "$image has no glibc: pip cannot pick torch wheels for it"
platforms=(--platform "linux_$machine" --platform "manylinux2014_$machine")
for ((minor = 17; minor <= ${glibc#2.}; minor++)); do platforms+=(--platform "manylinux_2_${minor}_$machine"); done

# Wheels of another torch or platform go first; wheels already here are not downloaded again.
target="torch==$TORCH_VERSION cp$py $machine glibc$glibc"
mkdir -p "$wheels"
[ "$(cat "$wheels/.target" 2>/dev/null)" = "$target" ] || rm -f "$wheels"/*.whl
echo "fetch-torch-wheels: $target into build/wheels/ (TORCH_INDEX_URL has credentials: they stay on this host)"
# The index through the environment, not the command line: ps shows arguments to every user.
# torch alone first, then what its wheel requires without Triton (scripts/torch-deps.py): the
# image installs torch the same way, so Triton is neither downloaded nor copied into it.
download() {
  PIP_INDEX_URL=$TORCH_INDEX_URL PIP_EXTRA_INDEX_URL=https://pypi.org/simple \
    "$python" -m pip download -q --disable-pip-version-check --only-binary=:all: --dest "$wheels" \
    --python-version "$py" --implementation cp --abi "cp$py" "${platforms[@]}" "$@"
}
download --no-deps "torch==$TORCH_VERSION" ||
  die "pip could not download torch==$TORCH_VERSION from TORCH_INDEX_URL for $target"
wheel=$(ls "$wheels"/torch-"$TORCH_VERSION"[-+]*.whl 2>/dev/null | head -n 1)
[ -n "$wheel" ] || die "pip downloaded no torch-$TORCH_VERSION wheel into build/wheels/"
deps=$(mktemp)
trap 'rm -f "$deps"' EXIT
"$python" "$(dirname "$0")/torch-deps.py" requirements "$wheel" >"$deps" ||
  die "cannot read torch's requirements from $wheel"
download -r "$deps" || die "pip could not download torch's requirements ($(paste -sd ' ' "$deps"))"
echo "$target" >"$wheels/.target"
