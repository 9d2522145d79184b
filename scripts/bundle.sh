#!/usr/bin/env bash
# The offline bundle for a room with no network (docs/workshop.md#the-instructors-checklist).
#
#   bundle.sh create OUT_DIR [IDX_DIR]   every image the lab runs + the dataset files + SHA256SUMS,
#                                        in one tar: OUT_DIR/minio-torch-lab-bundle-<os>-<arch>.tar
#   bundle.sh load BUNDLE SOURCE_DIR ENV_FILE
#                                        verify the archive (BUNDLE.sha256) and every member, docker
#                                        load the images, unpack the listed dataset files into
#                                        SOURCE_DIR, and point ENV_FILE (.env.local) at both
#   bundle.sh check IMAGE...             fail in one line unless every image is present
#
# Needs only bash, tar, sha256sum (or shasum) and Docker on the laptop: no Python, no network.
set -euo pipefail
die() { echo "bundle: $*" >&2; exit 1; }
# OpenSSL's SHA-256 uses the CPU's SHA instructions where coreutils' does not: on the CI machine
# (2 cores) a 6.4 GB images.tar took 5 s against sha256sum's 31 s, and a bundle is hashed four
# times between make bundle and make load. Lines as sha256sum writes them ("<hex> *<name>").
sha256() {
  if openssl dgst -sha256 -r </dev/null >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$@"
  elif command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$@"
  else
    shasum -a 256 "$@"
  fi
}
docker_platform() { docker version --format '{{.Server.Os}}-{{.Server.Arch}}' 2>/dev/null || die "Docker is not running"; }
# The lab's own images under LAB_TAG (.env; the Makefile passes it): a bundle carries its tag.
LAB_TAG=${LAB_TAG:-local}
LAB_TAG_SHAPE='^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$'
LAB_IMAGES=(minio-torch-lab/seeder:"$LAB_TAG" minio-torch-lab/trainer:"$LAB_TAG" minio-torch-lab/workshop:"$LAB_TAG")
IDX_FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

check() {
  for image in "$@"; do
    docker image inspect "$image" >/dev/null 2>&1 ||
      die "image $image is missing and LAB_PREBUILT=1 forbids building it: run make load BUNDLE=... again"
  done
}

# A URL without its user:token@ part: bundle.env is copied to every laptop.
without_userinfo() {
  local url=$1
  [[ $url =~ ^([A-Za-z][A-Za-z0-9+.-]*://)[^/]*@(.*)$ ]] && url=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
  printf '%s\n' "$url"
}

create() {
  local out=$1 source=${2:-}
  [ -n "${MINIO_IMAGE:-}" ] || die "MINIO_IMAGE is not set (.env)"
  [[ $LAB_TAG =~ $LAB_TAG_SHAPE ]] || die "LAB_TAG '$LAB_TAG' is not an image tag (letters, digits, '_', '.', '-')"
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
    # The image carries the Compose labels of the build that made it: an empty project label keeps
    # this container out of that project's `compose ps` and `logs`.
    docker run --rm --label com.docker.compose.project= --user "$(id -u):$(id -g)" \
      -v "$stage/$name/data:/out" --entrypoint python "minio-torch-lab/seeder:$LAB_TAG" \
      -c "from labcore.sources import fetch_mnist; fetch_mnist('/out')"
  fi

  echo "bundle: saving ${images[*]}"
  docker save -o "$stage/$name/images.tar" "${images[@]}"
  {
    echo "BUNDLE_PLATFORM=$platform"
    echo "MINIO_IMAGE=$MINIO_IMAGE"
    echo "IMAGES=${images[*]}"
    echo "LAB_TAG=$LAB_TAG"
    echo "TORCH_VERSION=${TORCH_VERSION:-}"
    echo "TORCH_INDEX_URL=$(without_userinfo "${TORCH_INDEX_URL:-}")"
    echo "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$stage/$name/bundle.env"
  (cd "$stage/$name" && sha256 bundle.env data/* images.tar >SHA256SUMS)
  # The small members first: make load reads them without scanning the images.
  tar -C "$stage" -cf "$out/$name.tar" "$name/bundle.env" "$name/SHA256SUMS" "$name/data" "$name/images.tar"
  (cd "$out" && sha256 "$name.tar" >"$name.tar.sha256")
  echo "bundle: wrote $out/$name.tar ($(du -h "$out/$name.tar" | cut -f1), for $platform) and its .sha256"
}

# Everything a bundle may hold, relative to its top directory: only these are ever unpacked.
MEMBER_SHAPE="^(bundle\.env|images\.tar|data/($(IFS='|'; echo "${IDX_FILES[*]}"))(\.gz)?)$"

# The only keys make load reads from bundle.env, each with the shape its value must have: a value
# reaches .env.local, which the Makefile expands into shell recipes.
env_shape() {
  case "$1" in
    BUNDLE_PLATFORM) echo '^[a-z0-9]+-[a-z0-9_]+$' ;;
    MINIO_IMAGE) echo '^[a-z0-9][a-z0-9._-]*(:[0-9]+)?(/[a-z0-9._-]+)*(:[A-Za-z0-9._-]+)?(@sha256:[0-9a-f]{64})?$' ;;
    IMAGES) echo '^[a-z0-9][a-z0-9._/:@ -]*$' ;;
    LAB_TAG) echo "$LAB_TAG_SHAPE" ;;
    TORCH_VERSION) echo '^([0-9]+(\.[0-9]+)*([.+-]?[A-Za-z0-9]+)*)?$' ;;
    TORCH_INDEX_URL) echo '^([a-z][a-z0-9+.-]*://[A-Za-z0-9._~:/?#%=&+,;@-]*)?$' ;;
    CREATED) echo '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' ;;
  esac
}

# The archive against the .sha256 that make bundle wrote beside it, when it is there.
verify_outer() {
  local bundle=$1 expected actual
  [ -f "$bundle.sha256" ] || { echo "bundle: no $(basename "$bundle").sha256 beside it; checking its members only"; return 0; }
  expected=$(cut -d' ' -f1 <"$bundle.sha256" | head -n 1)
  [[ $expected =~ ^[0-9a-f]{64}$ ]] || die "$bundle.sha256 holds no SHA-256: copy it again with the bundle"
  actual=$(sha256 <"$bundle" | cut -d' ' -f1)
  [ "$actual" = "$expected" ] ||
    die "$bundle does not match $bundle.sha256 (SHA-256 ${actual:0:12}..., expected ${expected:0:12}...): copy both again"
}

# Every member as listed: a regular file or a directory, at a path a lab bundle has. Sets the
# globals name (the top directory) and files (" path path ... ", below it, SHA256SUMS aside).
check_members() {
  local bundle=$1 line member path twice i=0
  local -a members=() kinds=()
  while IFS= read -r line; do members+=("$line"); done < <(tar -tf "$bundle" 2>/dev/null || true)
  while IFS= read -r line; do kinds+=("${line:0:1}"); done < <(tar -tvf "$bundle" 2>/dev/null || true)
  name=${members[0]:-}
  name=${name%%/*}
  [[ $name =~ ^minio-torch-lab-bundle-[a-z0-9]+-[a-z0-9_]+$ ]] &&
    tar -xOf "$bundle" "$name/SHA256SUMS" >/dev/null 2>&1 ||
    die "$bundle is not a lab bundle (no SHA256SUMS inside): make one with make bundle"
  [ "${#kinds[@]}" = "${#members[@]}" ] || die "$bundle cannot be listed: copy the bundle again"
  twice=$(printf '%s\n' "${members[@]}" | sort | uniq -d | head -n 1)
  [ -z "$twice" ] || die "$bundle holds $twice twice: refusing it"
  files=" "
  for member in "${members[@]}"; do
    case "/$member/" in
      //* | */../*) die "$bundle holds an unsafe path ($member): refusing it" ;;
    esac
    [[ ${kinds[$i]} == [-d] ]] || die "$bundle holds a link or special file ($member): refusing it"
    case "${kinds[$i]}:$member" in
      "d:$name/" | "d:$name/data/" | "-:$name/SHA256SUMS") i=$((i + 1)) && continue ;;
    esac
    path=${member#"$name"/}
    [[ ${kinds[$i]} == - && $member == "$name/$path" && $path =~ $MEMBER_SHAPE ]] ||
      die "$bundle holds $member, which no lab bundle has: refusing it"
    files+="$path "
    i=$((i + 1))
  done
}

# bundle.env: KEY=value lines, each key known and set once, each value of its shape. Sets the
# globals BUNDLE_PLATFORM, MINIO_IMAGE, IMAGES and LAB_TAG (local for a bundle made before it had one).
read_bundle_env() {
  local line key value shape seen=" "
  BUNDLE_PLATFORM="" MINIO_IMAGE="" IMAGES="" LAB_TAG=local
  while IFS= read -r line || [ -n "$line" ]; do
    key=${line%%=*} value=${line#*=}
    shape=$(env_shape "$key")
    [[ $line == *=* && -n $shape ]] ||
      die "bundle.env has a line make load does not know (${line:0:40}): refusing the bundle"
    [[ $seen != *" $key "* ]] || die "bundle.env sets $key twice: refusing the bundle"
    [[ $value =~ $shape ]] || die "bundle.env has a $key of the wrong shape (${value:0:40}): refusing the bundle"
    seen+="$key "
    case "$key" in BUNDLE_PLATFORM | MINIO_IMAGE | IMAGES | LAB_TAG) printf -v "$key" '%s' "$value" ;; esac
  done
  [ -n "$BUNDLE_PLATFORM" ] && [ -n "$MINIO_IMAGE" ] ||
    die "bundle.env names no BUNDLE_PLATFORM or MINIO_IMAGE: make the bundle again"
}

load() {
  local bundle=$1 data_dir=$2 env_file=$3
  [ -f "$bundle" ] || die "no bundle at '$bundle': make load BUNDLE=path/to/minio-torch-lab-bundle-<os>-<arch>.tar"
  verify_outer "$bundle"
  check_members "$bundle"

  # SHA256SUMS lists exactly the members: each of an expected path, none unlisted or missing.
  local sums expected path actual listed=" "
  sums=$(tar -xOf "$bundle" "$name/SHA256SUMS")
  while read -r expected path; do
    path=${path#\*}
    [[ $expected =~ ^[0-9a-f]{64}$ && $path =~ $MEMBER_SHAPE && $listed != *" $path "* ]] ||
      die "SHA256SUMS in $bundle has a line no lab bundle has (${path:0:40}): refusing it"
    [[ $files == *" $path "* ]] || die "$path, listed in SHA256SUMS, is missing from $bundle: copy the bundle again"
    listed+="$path "
  done <<<"$sums"
  for path in $files; do
    [[ $listed == *" $path "* ]] || die "$bundle holds $name/$path, which SHA256SUMS does not list: refusing it"
  done
  [[ $listed == *" bundle.env "* && $listed == *" images.tar "* ]] ||
    die "SHA256SUMS in $bundle lists no bundle.env or images.tar: make the bundle again"

  # Every member against SHA256SUMS, streamed: nothing is unpacked before it is known to be whole.
  while read -r expected path; do
    path=${path#\*}
    actual=$(tar -xOf "$bundle" "$name/$path" | sha256 | cut -d' ' -f1)
    [ "$actual" = "$expected" ] || die "$path in $bundle is damaged (SHA-256 ${actual:0:12}..., expected ${expected:0:12}...): copy the bundle again"
  done <<<"$sums"
  echo "bundle: $(wc -l <<<"$sums" | tr -d ' ') members verified"

  read_bundle_env < <(tar -xOf "$bundle" "$name/bundle.env")
  [ "$BUNDLE_PLATFORM" = "$(docker_platform)" ] ||
    die "this bundle is for $BUNDLE_PLATFORM but this Docker runs $(docker_platform): make a bundle on a $(docker_platform) machine"

  tar -xOf "$bundle" "$name/images.tar" | docker load
  # The dataset, one listed file at a time, to a path chosen here (never one the archive names),
  # checked again as written and then renamed into place.
  mkdir -p "$data_dir"
  data_dir=$(cd "$data_dir" && pwd)
  trap 'rm -f "${part:-}"' EXIT
  while read -r expected path; do
    path=${path#\*}
    [[ $path == data/* ]] || continue
    part=$(mktemp "$data_dir/.bundle.XXXXXX")
    tar -xOf "$bundle" "$name/$path" >"$part"
    [ "$(sha256 <"$part" | cut -d' ' -f1)" = "$expected" ] || die "$path in $bundle changed while it was read: copy the bundle again"
    chmod 644 "$part"
    mv -f "$part" "$data_dir/${path#data/}"
  done <<<"$sums"

  # The lab's untracked settings: images from the bundle (never built), seeding from its data.
  umask 077
  touch "$env_file"
  local kept source_name
  kept=$(grep -v -E '^(# Written by make load|LAB_PREBUILT|LAB_TAG|MINIO_IMAGE|SOURCE_DIR|SEED_SOURCE|SEED_SOURCE_DIR)=?' "$env_file" || true)
  source_name=$(basename "$bundle")
  {
    [ -n "$kept" ] && printf '%s\n' "$kept"
    echo "# Written by make load from ${source_name//[^A-Za-z0-9._-]/_}: images from the bundle, data from $data_dir"
    echo "LAB_PREBUILT=1"
    echo "MINIO_IMAGE=$MINIO_IMAGE"
    echo "LAB_TAG=$LAB_TAG"
    echo "SOURCE_DIR=$data_dir"
  } >"$env_file.tmp"
  mv "$env_file.tmp" "$env_file"
  echo "bundle: loaded ${IMAGES:-the images}; dataset in $data_dir; settings in $env_file"
  echo "bundle: now make up, make train, make workshop (nothing is pulled or built)"
}

command=${1:-}
shift || true
case "$command" in
  create) create "$@" ;;
  load) load "$@" ;;
  check) check "$@" ;;
  *) die "usage: bundle.sh create OUT_DIR [IDX_DIR] | load BUNDLE SOURCE_DIR ENV_FILE | check IMAGE..." ;;
esac
