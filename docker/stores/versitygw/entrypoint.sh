#!/usr/bin/env bash
# VersityGW, single node: the S3 API on :9000 serving the POSIX directory /data.
#   STORE_ACCESS_KEY, STORE_SECRET_KEY  the root (admin) account's keys: required, lab-only
#   STORE_REGION                        the region requests must be signed for (us-east-1)
# Arguments: none -> the server; `healthcheck` -> exit 0 once GET /health answers (Compose:
# test: ["CMD", "/usr/local/bin/entrypoint.sh", "healthcheck"]); anything else is run as given.
set -euo pipefail

# Any HTTP answer on 127.0.0.1:9000$1 within 5 s; bash's /dev/tcp, so no curl/python needed.
http_up() {
  exec 3<>/dev/tcp/127.0.0.1/9000 || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
  local status
  IFS= read -r -t 5 status <&3 || return 1
  [[ $status == HTTP/1.[01]\ [0-9][0-9][0-9]* ]]
}

case "${1:-}" in
  healthcheck) http_up /health; exit ;;
  "") ;;
  *) exec "$@" ;;
esac

: "${STORE_ACCESS_KEY:?set STORE_ACCESS_KEY (the lab-only admin access key)}"
: "${STORE_SECRET_KEY:?set STORE_SECRET_KEY (the lab-only admin secret key)}"
# versitygw reads these itself: no secret on its command line (visible in ps).
export ROOT_ACCESS_KEY_ID=$STORE_ACCESS_KEY ROOT_SECRET_ACCESS_KEY=$STORE_SECRET_KEY
export VGW_REGION=${STORE_REGION:-us-east-1}
# Accounts (the trainer's, made by the seeder through the admin API on this port) live in
# /data/.vgw-iam/users.json, on the data volume, so they survive a restart; `.vgw-iam` is not a
# valid bucket name, so the gateway never serves it. The directory must exist before it starts.
iam_dir=/data/.vgw-iam
mkdir -p "$iam_dir" && chmod 0700 "$iam_dir"
exec versitygw --port :9000 --health /health --iam-dir "$iam_dir" posix /data
