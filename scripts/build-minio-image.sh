#!/usr/bin/env bash
# Build the MinIO server image from pinned source plus the lab's security patches: the module
# tree of MinIO's pinned commit from the Go module proxy, the patches in docker/minio/patches
# applied to it (scripts/minio-source.sh, one file per advisory), `go build` inside that tree, and
# `go install` of mc; then a small runtime image around the two static binaries.
#
# Why from source: Docker Hub's minio/minio and minio/mc were deleted in September 2026, Quay
# keeps only frozen snapshots, and the community repository is archived. The pin is its last
# commit (2026-02-12): past the last security release RELEASE.2025-10-15T17-29-55Z
# (CVE-2025-62506), but not past the 2026 advisories, which the archive will never fix. The lab's
# patches close five of them (docs/security.md#minios-2026-advisories: the table, and the exploit tests that prove it).
#
# The image tag, a label and the binary cache are keyed to a hash of the patches, so a changed
# patch can never be wrapped around an old binary. `.env`'s MINIO_IMAGE names that tag; a unit test
# (tests/unit/test_minio_build.py) checks the two agree.
#
# Usage: build-minio-image.sh            -> prints the image tag it built or found
#        build-minio-image.sh --tag      -> prints the tag this checkout builds, builds nothing
#        build-minio-image.sh --compile  -> only compiles the binaries into the cache (host Go)
# Env:   BASE_IMAGE (runtime base, default debian:bookworm-slim), GOBIN_DIR (binary cache),
#        GO_IMAGE (Go builder image when the host has no Go), EXTRA_CA_CERTS (CAs for that build),
#        MINIO_LOCAL_IMAGE (the tag the caller expects: refused unless it is this checkout's),
#        MINIO_PATCHES=none (the unpatched build, tagged ...-unpatched: only to show what the
#        exploit tests catch; never the lab's default)
set -euo pipefail

MINIO_MODULE_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_COMMIT=7aac2a2c5b7c
MC_MODULE_VERSION=v0.0.0-20250313080218-cf909e1063a9
base=${BASE_IMAGE:-debian:bookworm-slim}
here=$(cd "$(dirname "$0")/.." && pwd)
bindir=${GOBIN_DIR:-$here/build/minio}
patch_dir=$here/docker/minio/patches

log() { printf '[minio-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=scripts/progress.sh
. "$here/scripts/progress.sh"

if [ "${MINIO_PATCHES:-}" = none ]; then
  key=$MINIO_COMMIT-unpatched patches=none advisories=""
else
  # The patches' bytes and names decide the build; the tag carries the first 12 hex digits.
  hash=$(cd "$patch_dir" && sha256sum -- *.patch | sha256sum | cut -c1-12)
  key=$MINIO_COMMIT-p$hash patches=$patch_dir
  advisories=$(cd "$patch_dir" && ls -- *.patch | sed -E 's/^[0-9]+-//; s/\.patch$//' | paste -sd, -)
fi
tag=minio-torch-lab/minio:$key
if [ "${1:-}" = --tag ]; then echo "$tag"; exit 0; fi
# --compile: the binaries into the cache only, no image (CI compiles while the base image is made).
compile_only=0
[ "${1:-}" = --compile ] && compile_only=1
if [ -n "${MINIO_LOCAL_IMAGE:-}" ] && [ "$MINIO_LOCAL_IMAGE" != "$tag" ]; then
  die "MINIO_IMAGE=$MINIO_LOCAL_IMAGE is not this checkout's MinIO build ($tag, keyed to docker/minio/patches): set MINIO_IMAGE=$tag, or remove MINIO_IMAGE from .env.local"
fi

label_patches=org.minio-torch-lab.minio-patches
current() { [ "$(docker image inspect -f "{{ index .Config.Labels \"$label_patches\" }}" "$tag" 2>/dev/null)" = "$key" ]; }
if [ "$compile_only" = 0 ] && current; then
  log "$tag exists; skipping (docker rmi $tag to rebuild)"
  echo "$tag"
  exit 0
fi
mkdir -p "$bindir"
# One build at a time: test workers (make test runs several) may all ask for the image; the second
# waits here and then finds it. (flock is Linux's; without it, as on macOS, nothing is serialised.)
if command -v flock >/dev/null 2>&1; then
  exec 9>"$bindir/.lock"
  flock 9
  if [ "$compile_only" = 0 ] && current; then
    log "$tag was built meanwhile"
    echo "$tag"
    exit 0
  fi
fi
labels=(--label "$label_patches=$key" --label "org.minio-torch-lab.minio-advisories=$advisories")
ldflags="-s -w -X github.com/minio/minio/cmd.Version=2026-02-12T20:18:48Z \
  -X github.com/minio/minio/cmd.ReleaseTag=DEVELOPMENT.2026-02-12T20-18-48Z \
  -X github.com/minio/minio/cmd.CommitID=$key -X github.com/minio/minio/cmd.ShortCommitID=$key"

if ! command -v go >/dev/null 2>&1; then
  [ "$compile_only" = 0 ] || exit 0  # the Go image compiles inside docker build
  # No Go here: build inside Docker with a Go image (needs a registry), extra CAs included.
  log "no host Go: docker build with ${GO_IMAGE:-golang:1.24-bookworm} (a few minutes the first time)"
  bash "$here/scripts/copy-ca-certs.sh" "${EXTRA_CA_CERTS:-}" >&2
  with_progress "docker build of MinIO from source" docker build -q -f "$here/docker/minio/source.Dockerfile" "${labels[@]}" \
    --build-arg "GO_IMAGE=${GO_IMAGE:-golang:1.24-bookworm}" --build-arg "BASE_IMAGE=$base" \
    --build-arg "MINIO_MODULE_VERSION=$MINIO_MODULE_VERSION" --build-arg "MC_MODULE_VERSION=$MC_MODULE_VERSION" \
    --build-arg "MINIO_PATCHES=$([ "$patches" = none ] && echo none || echo /src/patches)" \
    --build-arg "LDFLAGS=$ldflags" -t "$tag" "$here" >/dev/null
  log "built $tag"
  echo "$tag"
  exit 0
fi

# Static Linux binaries, whatever the host OS: the image is Linux. No DWARF from the compiler:
# the linker strips it anyway (-s -w), and making it cost 4% of a compile's CPU (VersityGW here).
export CGO_ENABLED=0 GOOS=linux GOARCH=${GOARCH:-$(go env GOARCH)} GOFLAGS="-trimpath -gcflags=all=-dwarf=false"
out=$bindir/$key
mkdir -p "$out"
if [ ! -x "$out/minio" ]; then
  log "go build of github.com/minio/minio@$MINIO_MODULE_VERSION with ${advisories:-no} patches (a few minutes the first time)"
  src=$(mktemp -d)/minio
  trap 'rm -rf "$(dirname "$src")"' EXIT
  bash "$here/scripts/minio-source.sh" "$MINIO_MODULE_VERSION" "$src" "$patches"
  with_progress "go build of MinIO" sh -c 'cd "$1" && go build -ldflags "$2" -o "$3" .' sh "$src" "$ldflags" "$out/minio.tmp"
  mv "$out/minio.tmp" "$out/minio"
fi
if [ ! -x "$bindir/mc" ]; then
  log "go install github.com/minio/mc@$MC_MODULE_VERSION"
  with_progress "go install of mc" env GOBIN="$bindir" go install -ldflags "-s -w" "github.com/minio/mc@$MC_MODULE_VERSION"
fi
cp "$bindir/mc" "$out/mc"
[ "$compile_only" = 0 ] || exit 0

log "docker build $tag (base $base)"
docker build -q -f "$here/docker/minio/Dockerfile" "${labels[@]}" --build-arg "BASE_IMAGE=$base" -t "$tag" "$out" >/dev/null
log "built $tag"
echo "$tag"
