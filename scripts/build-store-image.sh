#!/usr/bin/env bash
# Build the image of another S3 server (issue 13) from a pinned source release, as
# build-minio-image.sh does for MinIO: the server binary is compiled here with the host's Go or
# cargo (no container registry needed), cached outside the clone, and copied into a small image
# on BASE_IMAGE with docker/stores/<store>/{Dockerfile,entrypoint.sh}.
#
# Usage: build-store-image.sh STORE      STORE: versitygw | seaweedfs | garage
#        -> prints the image tag it built or found (minio-torch-lab/<store>:<version>)
#        build-store-image.sh STORE --compile
#        -> only compiles the binary into the cache (no image, no BASE_IMAGE needed; CI compiles
#           while the base image is made)
# Env:   BASE_IMAGE (runtime base, default debian:bookworm-slim; CI passes lab-python:bookworm),
#        BIN_CACHE  (binary cache, default $HOME/.cache/minio-torch-lab/<store>-bin; a warm cache
#                    skips the compile: delete the binary there to rebuild it)
#        STORE_IMAGE (tag to build instead of the default)
#
# Every image runs one single-node server as a non-root user (uid 10001) with its S3 API on port
# 9000 and data in the volume /data, and takes lab-only admin keys from STORE_ACCESS_KEY /
# STORE_SECRET_KEY and the region from STORE_REGION (default us-east-1). The Compose healthcheck
# is the same for all: test: ["CMD", "/usr/local/bin/entrypoint.sh", "healthcheck"] (each
# entrypoint.sh says what it checks; bash only, no curl or python in the image needed).
set -euo pipefail

# Pinned versions. Why these (2026-11-25, /work/shared/NOTES.md "Other S3 servers"):
# - VersityGW v1.8.0: the newest release; plain `go install` builds it (CGO off) and the
#   lab's seeder and trainer ran unchanged against it.
VERSITYGW_VERSION=v1.8.0
# - SeaweedFS: its go.mod has a replace directive, so `go install pkg@version` is refused; a
#   two-file wrapper module (docker/stores/seaweedfs/build, with go.sum for reproducible builds)
#   requires this pseudo-version (commit 7506e5f91cd6, 2026-11-09) and repeats the replace.
#   The pin lives in that go.mod; this copy names the image and is checked against it.
SEAWEEDFS_MODULE_VERSION=v0.0.0-20261109003541-7506e5f91cd6
# - Garage 2.5.0: the newest release on crates.io; built with Cargo.lock (--locked) and its
#   default features (sqlite and libsodium bundled). The binary links the host's glibc, so build
#   on a host whose glibc is no newer than BASE_IMAGE's (Debian bookworm: 2.36).
GARAGE_VERSION=2.5.0

store=${1:-}
compile_only=0
[ "${2:-}" = --compile ] && compile_only=1
here=$(cd "$(dirname "$0")/.." && pwd)
base=${BASE_IMAGE:-debian:bookworm-slim}

log() { printf '[store-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/progress.sh
. "$here/scripts/progress.sh"

case "$store" in
  versitygw) version=$VERSITYGW_VERSION; bin=versitygw ;;
  seaweedfs) version=${SEAWEEDFS_MODULE_VERSION##*-}; bin=weed ;;  # the commit, as MinIO's tag
  garage) version=$GARAGE_VERSION; bin=garage ;;
  *) die "usage: $0 versitygw|seaweedfs|garage" ;;
esac
tag=${STORE_IMAGE:-minio-torch-lab/$store:$version}
bindir=${BIN_CACHE:-$HOME/.cache/minio-torch-lab/$store-bin}
ctx=$here/docker/stores/$store

# The image is current when it was built from this Dockerfile and entrypoint (on any base): their hash is a
# label on the image, so an edited entrypoint rebuilds it (from the cached binary: seconds).
stamp=$(cat "$ctx/Dockerfile" "$ctx/entrypoint.sh" | sha256sum | cut -c1-16)
label=org.minio-torch-lab.context
current() { [ "$(docker image inspect -f "{{ index .Config.Labels \"$label\" }}" "$tag" 2>/dev/null)" = "$stamp" ]; }
if [ "$compile_only" = 0 ] && current; then
  log "$tag is current; skipping (docker rmi $tag to rebuild)"
  echo "$tag"
  exit 0
fi

need() { command -v "$1" >/dev/null 2>&1 || die "$store needs $1 on the host ($2)"; }

build_versitygw() {
  need go "https://go.dev/dl/"
  log "go install github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION (1-4 minutes the first time)"
  CGO_ENABLED=0 GOOS=linux GOARCH=${GOARCH:-$(go env GOARCH)} GOFLAGS="-trimpath -gcflags=all=-dwarf=false" GOBIN="$bindir" \
    go install -ldflags "-s -w -X=main.Version=$VERSITYGW_VERSION -X=main.Build=$VERSITYGW_VERSION" \
    "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
}

build_seaweedfs() {
  need go "https://go.dev/dl/"
  local mod=$ctx/build
  grep -q "github.com/seaweedfs/seaweedfs $SEAWEEDFS_MODULE_VERSION\$" "$mod/go.mod" \
    || die "$mod/go.mod does not require seaweedfs $SEAWEEDFS_MODULE_VERSION; keep the two pins equal"
  log "go build github.com/seaweedfs/seaweedfs/weed@$SEAWEEDFS_MODULE_VERSION (4-20 minutes and 2.6 GB of memory the first time)"
  # -mod=readonly: exactly the versions in the committed go.mod/go.sum, or an error.
  (cd "$mod" && CGO_ENABLED=0 GOOS=linux GOARCH=${GOARCH:-$(go env GOARCH)} GOFLAGS="-trimpath -mod=readonly -gcflags=all=-dwarf=false" \
    go build -ldflags "-s -w -X github.com/seaweedfs/seaweedfs/weed/util/version.COMMIT=${SEAWEEDFS_MODULE_VERSION##*-}" \
    -o "$bindir/weed" github.com/seaweedfs/seaweedfs/weed)
}

build_garage() {
  need cargo "https://rustup.rs"
  log "cargo install --locked garage --version $GARAGE_VERSION (8-18 minutes and 1.4 GB of memory the first time)"
  cargo install --locked garage --version "$GARAGE_VERSION" --root "$bindir/cargo" >&2
  ln -f "$bindir/cargo/bin/garage" "$bindir/garage" 2>/dev/null || cp -f "$bindir/cargo/bin/garage" "$bindir/garage"
}

mkdir -p "$bindir"
# One build at a time per store: test workers (make test runs several) may all ask for the image.
# The second waits here, then finds the binary and the image current. (flock is Linux's; without
# it, as on macOS, builds are not serialised, which only matters to parallel callers.)
if command -v flock >/dev/null 2>&1; then
  exec 9>"$bindir/.lock"
  flock 9
  if [ "$compile_only" = 0 ] && current; then
    log "$tag was built meanwhile"
    echo "$tag"
    exit 0
  fi
fi
if [ -x "$bindir/$bin" ] && [ "$(cat "$bindir/VERSION" 2>/dev/null)" = "$version" ]; then
  log "using cached $bindir/$bin ($version)"
else
  rm -f "$bindir/$bin" "$bindir/VERSION"
  with_progress "building $store from source" "build_$store"
  echo "$version" >"$bindir/VERSION"
fi
[ "$compile_only" = 0 ] || exit 0

# The build context: the binary (a hard link when possible) and the entrypoint, nothing else.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
ln "$bindir/$bin" "$stage/$bin" 2>/dev/null || cp "$bindir/$bin" "$stage/$bin"
install -m 0755 "$ctx/entrypoint.sh" "$stage/entrypoint.sh"
log "docker build $tag (base $base)"
docker build -q -f "$ctx/Dockerfile" --build-arg "BASE_IMAGE=$base" --label "$label=$stamp" \
  -t "$tag" "$stage" >/dev/null
log "built $tag"
echo "$tag"
