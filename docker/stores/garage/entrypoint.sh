#!/usr/bin/env bash
# Garage, single node: S3 API on :9000, admin API on :3903, metadata (sqlite) and data in /data.
#   STORE_ACCESS_KEY, STORE_SECRET_KEY  the admin key: required, lab-only. Garage 2.5 imports any
#       id of 8+ characters from [A-Za-z0-9._-] and any secret of 16+ printable ASCII characters;
#       the shape of the keys it generates itself (`garage key create`: "GK" + 24 hex, secret 64
#       hex) is not required of imported ones (older Garage releases did require it).
#   STORE_REGION       s3_region: requests signed for another region are refused (us-east-1)
#   STORE_RPC_SECRET   64 hex characters; default: generated once and kept in /data/meta
#   STORE_ADMIN_TOKEN  bearer token for the admin API (:3903); unset: only GET /health answers
#
# The server sets itself up: `garage server --single-node --default-access-key` (Garage >= 2.5)
# applies a one-node layout (capacity = the size of /data's disk) on first start, imports the
# key with permission to create buckets, and on every later start checks that the key still has
# that secret (it refuses to start otherwise: a changed STORE_SECRET_KEY needs a fresh /data or
# `garage key delete` first). Idempotent, no second process: the entrypoint execs the server.
#
# Arguments: none -> the server; `healthcheck` -> exit 0 when `garage health` says the cluster is
# healthy and the S3 API answers (Compose: test: ["CMD", "/usr/local/bin/entrypoint.sh",
# "healthcheck"]); anything else is run as given (e.g. `garage status`, `garage key list`).
set -euo pipefail

# Any HTTP answer on 127.0.0.1:$1$2 within 5 s; bash's /dev/tcp, so no curl/python needed.
http_up() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  local status
  IFS= read -r -t 5 status <&3 || return 1
  [[ $status == HTTP/1.[01]\ [0-9][0-9][0-9]* ]]
}

case "${1:-}" in
  healthcheck) garage health -q && http_up 9000 /; exit ;;
  "") ;;
  *) exec "$@" ;;
esac

: "${STORE_ACCESS_KEY:?set STORE_ACCESS_KEY (the lab-only admin access key id)}"
: "${STORE_SECRET_KEY:?set STORE_SECRET_KEY (the lab-only admin secret key)}"
[[ $STORE_ACCESS_KEY =~ ^[A-Za-z0-9._-]{8,}$ ]] \
  || { echo "entrypoint: STORE_ACCESS_KEY must be 8+ characters from A-Z a-z 0-9 . _ -" >&2; exit 2; }
[[ ${#STORE_SECRET_KEY} -ge 16 && $STORE_SECRET_KEY =~ ^[!-~]+$ ]] \
  || { echo "entrypoint: STORE_SECRET_KEY must be 16+ printable ASCII characters, no spaces" >&2; exit 2; }
region=${STORE_REGION:-us-east-1}
[[ $region =~ ^[a-z0-9-]+$ ]] || { echo "entrypoint: bad STORE_REGION '$region'" >&2; exit 2; }

mkdir -p /data/meta /data/data
secret_file=/data/meta/rpc_secret
if [ -n "${STORE_RPC_SECRET:-}" ]; then
  rpc_secret=$STORE_RPC_SECRET
elif [ -s "$secret_file" ]; then
  rpc_secret=$(<"$secret_file")
else
  rpc_secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  (umask 077 && printf '%s\n' "$rpc_secret" >"$secret_file")
fi
[[ $rpc_secret =~ ^[0-9a-f]{64}$ ]] || { echo "entrypoint: the RPC secret must be 64 hex characters" >&2; exit 2; }

token_line=
if [ -n "${STORE_ADMIN_TOKEN:-}" ]; then
  [[ $STORE_ADMIN_TOKEN =~ ^[!-~]+$ && $STORE_ADMIN_TOKEN != *'"'* && $STORE_ADMIN_TOKEN != *\\* ]] \
    || { echo "entrypoint: STORE_ADMIN_TOKEN: printable ASCII without quotes or backslashes" >&2; exit 2; }
  token_line="admin_token = \"$STORE_ADMIN_TOKEN\""
fi

config=${GARAGE_CONFIG_FILE:-/etc/garage/garage.toml}
(
  umask 077
  cat >"$config" <<TOML
# Written by entrypoint.sh at each start; edits are lost.
metadata_dir = "/data/meta"
data_dir = "/data/data"
db_engine = "sqlite"
replication_factor = 1

# One node: RPC stays on the container's loopback.
rpc_bind_addr = "127.0.0.1:3901"
rpc_public_addr = "127.0.0.1:3901"
rpc_secret = "$rpc_secret"

[s3_api]
s3_region = "$region"
api_bind_addr = "0.0.0.0:9000"

[admin]
api_bind_addr = "0.0.0.0:3903"
$token_line
TOML
)

# Read by --default-access-key only; kept out of the server's command line.
export GARAGE_DEFAULT_ACCESS_KEY=$STORE_ACCESS_KEY GARAGE_DEFAULT_SECRET_KEY=$STORE_SECRET_KEY
exec garage -c "$config" server --single-node --default-access-key
