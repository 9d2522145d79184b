#!/usr/bin/env bash
# SeaweedFS, single node: `weed server` with its S3 gateway on :9000 and everything in /data.
#   STORE_ACCESS_KEY, STORE_SECRET_KEY  the admin identity's keys: required, lab-only
#   STORE_REGION                        accepted for symmetry; SeaweedFS has no region setting and
#                                       verifies SigV4 with whatever region the request names
# The keys go into an identities file (-s3.config) written here at each start, mode 0600.
# Arguments: none -> the server; `healthcheck` -> exit 0 once the S3 API answers GET /healthz
# and the master is raft leader (Compose: test: ["CMD", "/usr/local/bin/entrypoint.sh",
# "healthcheck"]); anything else is run as given (e.g. `weed version`).
set -euo pipefail

# GET http://127.0.0.1:$1$2 with bash's /dev/tcp (no curl or python in the image); prints the
# whole answer, headers and body, within 5 s.
http_get() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  local answer=
  IFS= read -r -d '' -t 5 answer <&3 || [ -n "$answer" ] || return 1
  printf '%s' "$answer"
}

# S3 answers (metadata comes from the filer) before the master has elected itself leader; until
# then every object read or write waits for a volume lookup (about 10 s after a restart).
healthy() {
  [[ $(http_get 9000 /healthz) == HTTP/1.[01]\ 200* ]] || return 1
  [[ $(http_get 9333 /cluster/status) == *'"IsLeader":true'* ]]
}

case "${1:-}" in
  healthcheck) healthy; exit ;;
  "") ;;
  *) exec "$@" ;;
esac

: "${STORE_ACCESS_KEY:?set STORE_ACCESS_KEY (the lab-only admin access key)}"
: "${STORE_SECRET_KEY:?set STORE_SECRET_KEY (the lab-only admin secret key)}"

# A JSON string; keys with control characters are refused rather than escaped.
json_str() {
  [[ $1 != *[[:cntrl:]]* ]] || { echo "entrypoint: control character in a key" >&2; exit 2; }
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

config=${TMPDIR:-/tmp}/seaweedfs-s3-identities.json
(
  umask 077
  cat >"$config" <<JSON
{
  "identities": [
    {
      "name": "lab-admin",
      "credentials": [
        {"accessKey": $(json_str "$STORE_ACCESS_KEY"), "secretKey": $(json_str "$STORE_SECRET_KEY")}
      ],
      "actions": ["Admin", "Read", "Write", "List", "Tagging"]
    }
  ]
}
JSON
)

# -ip: the address master, volume server and filer give each other (one process: loopback);
# -ip.bind keeps them there, -s3.ip.bind opens only the S3 API. Iceberg and Lance catalogs off;
# no implicit bucket creation on upload (AWS answers NoSuchBucket). The embedded IAM API (AWS
# IAM's query API on the S3 port, admin-signed) takes writes: the seeder makes the trainer's
# user, key and policy there (labcore/useradmin/iam.py); they live in the filer, so they survive
# a restart. One master, no peers: a short election timeout (default 10 s) makes a restarted node leader again sooner, and the
# volume server need not wait 10 s on SIGTERM for clients to go elsewhere. Even so a clean stop
# takes about 17 s (the filer's last metadata-log flush times out after the volume server has
# gone), more than docker stop's 10 s: give the service `stop_grace_period: 30s` in Compose.
# After a restart with existing volumes the master refuses new writes for its 15 s warm-up
# (3 heartbeats, not configurable): the first PUT waits for it, then succeeds.
# Every bucket is a collection with volumes of its own, grown 7 at a time: the default limit of 8
# volumes left new buckets unwritable ("Not enough data nodes found", 500 on PUT) once the
# conformance suite had made a few dozen. Volumes are sparse files, so a high limit costs little.
exec weed server -dir=/data -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.electionTimeout=2s \
  -volume.preStopSeconds=1 -volume.max=1000 \
  -s3 -s3.port=9000 -s3.ip.bind=0.0.0.0 -s3.config="$config" \
  -s3.iam.readOnly=false -s3.port.iceberg=0 -s3.port.lance=0 -s3.autoCreateBucket=false
