#!/usr/bin/env bash
# Write (default) or check (--check) the hashed dependency locks in locks/ from pyproject.toml.
#
# One lock per thing that installs: the seeder image, the trainer image, the workshop image and
# the developer venv. uv keeps the versions already in a lock unless pyproject.toml asks for
# others, so --check fails only when pyproject.toml and a lock disagree, not when PyPI moves on.
# Refresh every pin on purpose with: UPGRADE=1 make lock
set -euo pipefail
cd "$(dirname "$0")/.."
uv=$(bash scripts/uv.sh)

# The extras of each lock (a function, not an associative array: bash 3.2 has none).
extras() {
  case $1 in
    seeder) echo "" ;;
    trainer) echo "train" ;;
    workshop) echo "train workshop" ;;
    dev) echo "train bench workshop test" ;;
  esac
}
mode=${1:-write}
stale=()
for name in seeder trainer workshop dev; do
  args=(--universal)
  for extra in $(extras "$name"); do args+=(--extra "$extra"); done
  target="locks/$name.txt"
  out="$target"
  if [ "$mode" = "--check" ]; then
    out=$(mktemp)
    cp "$target" "$out"
  fi
  "$uv" pip compile pyproject.toml "${args[@]}" --generate-hashes \
    --override locks/overrides.txt --custom-compile-command "make lock" --quiet \
    ${UPGRADE:+--upgrade} -o "$out"
  if [ "$mode" = "--check" ]; then
    diff -q "$target" "$out" >/dev/null || stale+=("$target")
    rm -f "$out"
  fi
done
if [ ${#stale[@]} -gt 0 ]; then
  echo "lock-check: ${stale[*]} do not match pyproject.toml; run make lock and commit locks/" >&2
  exit 1
fi
