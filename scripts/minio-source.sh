#!/usr/bin/env bash
# Prepare MinIO's source tree for a build: the pinned module as the Go module proxy serves it
# (`go mod download` checks it against the checksum database), copied out of the read-only module
# cache, with the lab's patches applied in order. Both build paths use it: the host's Go
# (scripts/build-minio-image.sh) and Go inside Docker (docker/minio/source.Dockerfile).
#
# Usage: minio-source.sh MODULE_VERSION DEST PATCH_DIR|none
#   DEST must not exist; PATCH_DIR holds NN-<advisory>.patch files (docker/minio/patches), or
#   `none` for the unpatched tree (only to show what the exploit tests catch).
# Then `go build` inside DEST: the tree's own go.sum checks every dependency.
set -euo pipefail
version=${1:?module version}; dest=${2:?destination}; patches=${3:?patch dir or none}
[ "$patches" = none ] || patches=$(cd "$patches" && pwd)
log() { printf '[minio-source] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ ! -e "$dest" ] || die "$dest exists; give a new directory"
# Outside any module, so that go.mod files around the caller play no part.
dir=$(cd / && GOFLAGS=-mod=mod go mod download -json "github.com/minio/minio@$version" |
  sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
[ -n "$dir" ] && [ -f "$dir/go.mod" ] || die "go mod download github.com/minio/minio@$version gave no module tree"
mkdir -p "$(dirname "$dest")"
cp -R "$dir" "$dest"
chmod -R u+w "$dest"
if [ "$patches" = none ]; then
  log "unpatched tree of $version in $dest"
  exit 0
fi
shopt -s nullglob
files=("$patches"/*.patch)
[ ${#files[@]} -gt 0 ] || die "no .patch files in $patches"
for p in "${files[@]}"; do
  # git apply works outside a repository and refuses a patch that does not apply cleanly.
  (cd "$dest" && git apply -p1 "$p") || die "$(basename "$p") does not apply to $version"
  log "applied $(basename "$p")"
done
