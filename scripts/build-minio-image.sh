#!/usr/bin/env bash
# Build the MinIO server image from pinned source: `go install` of MinIO and mc at fixed module
# versions, then a small runtime image around the two static binaries.
#
# Why from source: Docker Hub's minio/minio and minio/mc were deleted in September 2026, Quay
# keeps only frozen snapshots, and the community repository is archived. The pin below is the
# last commit of the archived repository (2026-02-12), which contains every fix up to and past the
# last security release RELEASE.2025-10-15T17-29-55Z (CVE-2025-62506).
#
# Usage: build-minio-image.sh            -> prints the image tag it built or found
# Env:   BASE_IMAGE (runtime base, default debian:bookworm-slim), GOBIN_DIR (binary cache),
#        GO_IMAGE (Go builder image when the host has no Go), EXTRA_CA_CERTS (CAs for that build)
# With Go on the host the binaries are built here (no registry needed); without it, inside
# Docker from docker/minio/source.Dockerfile.
set -euo pipefail

MINIO_MODULE_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MC_MODULE_VERSION=v0.0.0-20250313080218-cf909e1063a9
tag=${MINIO_LOCAL_IMAGE:-minio-torch-lab/minio:7aac2a2c5b7c}
base=${BASE_IMAGE:-debian:bookworm-slim}
here=$(cd "$(dirname "$0")/.." && pwd)
bindir=${GOBIN_DIR:-$here/build/minio}

log() { printf '[minio-image] %s\n' "$*" >&2; }

if docker image inspect "$tag" >/dev/null 2>&1; then
  log "$tag exists; skipping (docker rmi $tag to rebuild)"
  echo "$tag"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  # No Go here: build inside Docker with a Go image (needs a registry), extra CAs included.
  log "no host Go: docker build with ${GO_IMAGE:-golang:1.24-bookworm} (a few minutes the first time)"
  bash "$here/scripts/copy-ca-certs.sh" "${EXTRA_CA_CERTS:-}" >&2
  docker build -q -f "$here/docker/minio/source.Dockerfile" \
    --build-arg "GO_IMAGE=${GO_IMAGE:-golang:1.24-bookworm}" --build-arg "BASE_IMAGE=$base" \
    --build-arg "MINIO_MODULE_VERSION=$MINIO_MODULE_VERSION" --build-arg "MC_MODULE_VERSION=$MC_MODULE_VERSION" \
    -t "$tag" "$here" >/dev/null
  log "built $tag"
  echo "$tag"
  exit 0
fi

mkdir -p "$bindir"
# Static Linux binaries, whatever the host OS: the image is Linux.
export CGO_ENABLED=0 GOOS=linux GOARCH=${GOARCH:-$(go env GOARCH)} GOFLAGS=-trimpath
if [ ! -x "$bindir/minio" ]; then
  log "go install github.com/minio/minio@$MINIO_MODULE_VERSION (a few minutes the first time)"
  stamp=2026-02-12T20-18-48Z
  GOBIN="$bindir" go install -ldflags "-s -w \
    -X github.com/minio/minio/cmd.Version=2026-02-12T20:18:48Z \
    -X github.com/minio/minio/cmd.ReleaseTag=DEVELOPMENT.$stamp \
    -X github.com/minio/minio/cmd.CommitID=7aac2a2c5b7c \
    -X github.com/minio/minio/cmd.ShortCommitID=7aac2a2c5b7c" \
    "github.com/minio/minio@$MINIO_MODULE_VERSION"
fi
if [ ! -x "$bindir/mc" ]; then
  log "go install github.com/minio/mc@$MC_MODULE_VERSION"
  GOBIN="$bindir" go install -ldflags "-s -w" "github.com/minio/mc@$MC_MODULE_VERSION"
fi

log "docker build $tag (base $base)"
docker build -q -f "$here/docker/minio/Dockerfile" --build-arg "BASE_IMAGE=$base" -t "$tag" "$bindir" >/dev/null
log "built $tag"
echo "$tag"
