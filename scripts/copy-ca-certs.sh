#!/usr/bin/env bash
# Copy extra CA certificates (a .crt file, or a directory of them) into certs/, where the image
# build adds them to the trust store. No argument: leave certs/ as it is.
set -euo pipefail
src=${1:-}
[ -n "$src" ] || exit 0
dest=$(cd "$(dirname "$0")/.." && pwd)/certs
if [ -d "$src" ]; then
  shopt -s nullglob
  files=("$src"/*.crt)
  [ ${#files[@]} -gt 0 ] || { echo "EXTRA_CA_CERTS=$src holds no .crt files" >&2; exit 2; }
elif [ -f "$src" ]; then
  files=("$src")
else
  echo "EXTRA_CA_CERTS=$src is neither a .crt file nor a directory" >&2; exit 2
fi
for f in "${files[@]}"; do
  name=$(basename "$f"); cp "$f" "$dest/${name%.*}.crt"
done
echo "[certs] ${#files[@]} extra CA certificate(s) in certs/ for the image build"
