#!/usr/bin/env bash
# The offline bundle for a room with no network (README, Workshop: the instructor's checklist).
#
#   bundle.sh create OUT_DIR [IDX_DIR]   every image the lab runs + the dataset files + SHA256SUMS,
#                                        in one tar: OUT_DIR/minio-torch-lab-bundle-<os>-<arch>.tar
#   bundle.sh load BUNDLE DATA_DIR ENV_FILE
#                                        verify every member, docker load the images, unpack the
#                                        dataset into DATA_DIR, and point ENV_FILE (.env.local) at both
#   bundle.sh check IMAGE...             fail in one line unless every image is present
#
# Needs only bash, tar, sha256sum (or shasum) and Docker on the laptop: no Python, no network.
set -euo pipefail
die() { echo "bundle: $*" >&2; exit 1; }
sha256() { if command -v sha256sum >/dev/null 2>&1; then sha256sum "$@"; else shasum -a 256 "$@"; fi; }
docker_platform() { docker version --format '{{.Server.Os}}-{{.Server.Arch}}' 2>/dev/null || die "Docker is not running"; }
LAB_IMAGES=(minio-torch-lab/seeder:local minio-torch-lab/trainer:local minio-torch-lab/workshop:local)
IDX_FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

check() {
  for image in "$@"; do
    docker image inspect "$image" >/dev/null 2>&1 ||
      die "image $image is missing and LAB_PREBUILT=1 forbids building it: run make load BUNDLE=... again"
  done
}

create() {
  local out=$1 source=${2:-}
  [ -n "${MINIO_IMAGE:-}" ] || die "MINIO_IMAGE is not set (.env)"
  local images=("$MINIO_IMAGE" "${LAB_IMAGES[@]}")
  check "${images[@]}"
  local platform name
  platform=$(docker_platform)
  name="minio-torch-lab-bundle-$platform"
  mkdir -p "$out"
  # Global, not local: the EXIT trap runs after this function has returned.
  stage=$(mktemp -d "$out/.bundle.XXXXXX")
  trap 'rm -rf "${stage:-}"' EXIT
  mkdir -p "$stage/$name/data"

  echo "bundle: the dataset files"
  if [ -n "$source" ]; then
    for base in "${IDX_FILES[@]}"; do
      local found=""
      for candidate in "$source/$base.gz" "$source/$base"; do
        [ -f "$candidate" ] && { found=$candidate; break; }
      done
      [ -n "$found" ] || die "no $base(.gz) in $source: SOURCE_DIR must hold the four MNIST-style IDX files"
      cp "$found" "$stage/$name/data/"
    done
  else
    # MNIST from its mirrors, SHA-256 checked, with the lab's own code inside the seeder image.
    docker run --rm --user "$(id -u):$(id -g)" -v "$stage/$name/data:/out" --entrypoint python \
      minio-torch-lab/seeder:local -c "from labcore.sources import fetch_mnist; fetch_mnist('/out')"
  fi

  echo "bundle: saving ${images[*]}"
  docker save -o "$stage/$name/images.tar" "${images[@]}"
  {
    echo "BUNDLE_PLATFORM=$platform"
    echo "MINIO_IMAGE=$MINIO_IMAGE"
    echo "IMAGES=${images[*]}"
    echo "TORCH_VERSION=${TORCH_VERSION:-}"
    echo "TORCH_INDEX_URL=${TORCH_INDEX_URL:-}"
    echo "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$stage/$name/bundle.env"
  (cd "$stage/$name" && sha256 bundle.env data/* images.tar >SHA256SUMS)
  # The small members first: make load reads them without scanning the images.
  tar -C "$stage" -cf "$out/$name.tar" "$name/bundle.env" "$name/SHA256SUMS" "$name/data" "$name/images.tar"
  (cd "$out" && sha256 "$name.tar" >"$name.tar.sha256")
  echo "bundle: wrote $out/$name.tar ($(du -h "$out/$name.tar" | cut -f1), for $platform) and its .sha256"
}

load() {
  local bundle=$1 data_dir=$2 env_file=$3
  [ -f "$bundle" ] || die "no bundle at '$bundle': make load BUNDLE=path/to/minio-torch-lab-bundle-<os>-<arch>.tar"
  local name
  name=$(tar -tf "$bundle" 2>/dev/null | head -n 1 | cut -d/ -f1) || true
  [ -n "$name" ] && tar -xOf "$bundle" "$name/SHA256SUMS" >/dev/null 2>&1 ||
    die "$bundle is not a lab bundle (no SHA256SUMS inside): make one with make bundle"

  # Every member against SHA256SUMS, streamed: nothing is unpacked before it is known to be whole.
  local sums expected path actual
  sums=$(tar -xOf "$bundle" "$name/SHA256SUMS")
  while read -r expected path; do
    actual=$(tar -xOf "$bundle" "$name/$path" | sha256 | cut -d' ' -f1)
    [ "$actual" = "$expected" ] || die "$path in $bundle is damaged (SHA-256 ${actual:0:12}..., expected ${expected:0:12}...): copy the bundle again"
  done <<<"$sums"
  echo "bundle: $(wc -l <<<"$sums" | tr -d ' ') members verified"

  local meta platform minio_image
  meta=$(tar -xOf "$bundle" "$name/bundle.env")
  platform=$(sed -n 's/^BUNDLE_PLATFORM=//p' <<<"$meta")
  minio_image=$(sed -n 's/^MINIO_IMAGE=//p' <<<"$meta")
  [ "$platform" = "$(docker_platform)" ] ||
    die "this bundle is for $platform but this Docker runs $(docker_platform): make a bundle on a $(docker_platform) machine"

  tar -xOf "$bundle" "$name/images.tar" | docker load
  mkdir -p "$data_dir"
  tar -xf "$bundle" -C "$data_dir" --strip-components=2 "$name/data"
  data_dir=$(cd "$data_dir" && pwd)

  # The lab's untracked settings: images from the bundle (never built), seeding from its data.
  umask 077
  touch "$env_file"
  local kept
  kept=$(grep -v -E '^(# Written by make load|LAB_PREBUILT|MINIO_IMAGE|SEED_SOURCE|SEED_SOURCE_DIR)=?' "$env_file" || true)
  {
    [ -n "$kept" ] && printf '%s\n' "$kept"
    echo "# Written by make load from $(basename "$bundle"): images from the bundle, data from $data_dir"
    echo "LAB_PREBUILT=1"
    echo "MINIO_IMAGE=$minio_image"
    echo "SEED_SOURCE=/source"
    echo "SEED_SOURCE_DIR=$data_dir"
  } >"$env_file.tmp"
  mv "$env_file.tmp" "$env_file"
  echo "bundle: loaded $(sed -n 's/^IMAGES=//p' <<<"$meta"); dataset in $data_dir; settings in $env_file"
  echo "bundle: now make up, make train, make workshop (nothing is pulled or built)"
}

command=${1:-}
shift || true
case "$command" in
  create) create "$@" ;;
  load) load "$@" ;;
  check) check "$@" ;;
  *) die "usage: bundle.sh create OUT_DIR [IDX_DIR] | load BUNDLE DATA_DIR ENV_FILE | check IMAGE..." ;;
esac
