#!/usr/bin/env bash
# Build a local Debian bookworm + Python 3 base image with debootstrap and `docker import`.
# For machines that reach Debian's package mirror but no container registry (CI here); users
# with a registry keep the official python:3.11-slim-bookworm default and never need this.
# Usage: build-base-image.sh [TAG]   (skips the work if TAG already exists)
set -euo pipefail

tag=${1:-lab-python:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "[base-image] $tag exists; skipping (docker rmi $tag to rebuild)"
  exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
  [ "$(id -u)" = 0 ] || { echo "base-image: debootstrap is missing; apt-get install debootstrap" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
}

root=""
trap 'rm -rf "${root:-}"' EXIT
# A mirror sometimes fails one download of the ~100 ("Couldn't download packages: libtirpc-common",
# seen once on a fresh CI machine, fine a minute later): three attempts, each in a fresh root.
for attempt in 1 2 3; do
  rm -rf "${root:-}"
  root=$(mktemp -d /tmp/lab-rootfs.XXXXXX)
  echo "[base-image] debootstrap bookworm from $mirror (attempt $attempt of 3)"
  if debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$root" "$mirror" \
    >/tmp/lab-debootstrap.log 2>&1; then
    break
  fi
  [ "$attempt" -lt 3 ] || { echo "base-image: debootstrap failed 3 times; see /tmp/lab-debootstrap.log" >&2; exit 1; }
  echo "[base-image] $(tail -n 1 /tmp/lab-debootstrap.log); again in $((attempt * 10)) s"
  sleep $((attempt * 10))
done
# Keep the image small: package lists and caches are not needed at run time.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "[base-image] built $tag"
