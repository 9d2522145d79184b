#!/usr/bin/env bash
# Start TRAINERS trainer containers that rendezvous with torchrun (c10d store in the rdzv service),
# wait for all of them, show their output, and exit non-zero if any failed.
# Usage: cluster-train.sh <compose command...>   (the Makefile passes `docker compose -f ... --env-file ...`)
set -euo pipefail
trainers=${TRAINERS:-2}
[[ "$trainers" =~ ^[1-9][0-9]*$ ]] || { echo "cluster-train: TRAINERS=$trainers is not a positive whole number" >&2; exit 2; }
compose=("$@" --profile train)
# One rendezvous store serves every run on the cluster (it imports torch: seconds of CPU each time
# it starts), and each run rendezvouses under an id of its own: a stopped run's state stays under
# its id, where the next run never looks. `make cluster-down` removes the store.
export RDZV_ID="${RDZV_ID:-cluster}-$(date +%s)-$$"
"${compose[@]}" up -d --no-deps rdzv >&2
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
worst=0
for code in $codes; do [ "$code" -gt "$worst" ] && worst=$code; done
exit "$worst"
