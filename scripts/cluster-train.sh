#!/usr/bin/env bash
# Start TRAINERS trainer containers that rendezvous with torchrun (c10d store in the rdzv service),
# wait for all of them, show their output, and exit non-zero if any failed.
# Usage: cluster-train.sh <compose command...>   (the Makefile passes `docker compose -f ... --env-file ...`)
set -euo pipefail
trainers=${TRAINERS:-2}
[[ "$trainers" =~ ^[1-9][0-9]*$ ]] || { echo "cluster-train: TRAINERS=$trainers is not a positive whole number" >&2; exit 2; }
compose=("$@" --profile train)
# A fresh rendezvous store for every run: a stale one would still hold the last run's state.
"${compose[@]}" up -d --force-recreate --no-deps rdzv >&2
"${compose[@]}" up -d --force-recreate --no-deps --scale "trainer-peer=$((trainers - 1))" trainer-head trainer-peer >&2
# Container ids are hex: word splitting of the list is safe (and bash 3.2, macOS's, has no mapfile).
ids=$("${compose[@]}" ps -aq trainer-head trainer-peer)
# Follow the output while they run; `docker wait` returns each container's exit code.
"${compose[@]}" logs -f --no-color trainer-head trainer-peer &
follower=$!
# shellcheck disable=SC2086
codes=$(docker wait $ids)
sleep 1
kill "$follower" 2>/dev/null || true
wait "$follower" 2>/dev/null || true
"${compose[@]}" stop rdzv >/dev/null 2>&1 || true
worst=0
for code in $codes; do [ "$code" -gt "$worst" ] && worst=$code; done
exit "$worst"
