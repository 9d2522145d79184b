#!/usr/bin/env bash
# The lab's own certificate authority and MinIO's server certificate, for `make ... TLS=1`.
#
#   make-tls.sh [DIR]      (default build/tls; run again: keeps what is there and still valid)
#
# Writes, with openssl (Linux and macOS have it):
#   ca.crt, ca.key          a CA made for this clone alone (P-256, 825 days); its key stays here
#   public.crt, private.key MinIO's certificate from that CA, for localhost, 127.0.0.1 and the
#                           Compose name `minio` (MinIO reads these two names from --certs-dir)
#   ca-bundle.crt           the lab's CA plus this machine's trusted CAs: SSL_CERT_FILE for the
#                           MinIO SDK and the S3 Connector for PyTorch, which both read it and
#                           would otherwise trust only the lab's CA (the seeder's MNIST download
#                           and a corporate proxy need the others)
set -euo pipefail
die() { echo "make-tls: $*" >&2; exit 1; }
command -v openssl >/dev/null || die "openssl is not installed: install it (Debian: apt-get install openssl)"
dir=${1:-$(cd "$(dirname "$0")/.." && pwd)/build/tls}
mkdir -p "$dir"
cd "$dir"
# A day's margin: a certificate about to expire is made again rather than failing mid-run.
valid() { [ -s "$1" ] && openssl x509 -in "$1" -noout -checkend 86400 >/dev/null 2>&1; }
names="DNS:localhost,DNS:minio,IP:127.0.0.1"

if ! valid ca.crt || [ ! -s ca.key ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
    -keyout ca.key -out ca.crt -subj "/CN=minio-torch-lab CA $(hostname) $(date +%Y%m%d%H%M%S)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null || die "openssl could not make the CA in $dir"
  rm -f public.crt
  echo "make-tls: a new CA in $dir/ca.crt"
fi
# A certificate the CA did not sign (a CA made again) is made again too.
if ! valid public.crt || ! openssl verify -CAfile ca.crt public.crt >/dev/null 2>&1; then
  csr=$(mktemp)
  ext=$(mktemp)
  trap 'rm -f "$csr" "$ext"' EXIT
  printf '%s\n' "subjectAltName=$names" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$ext"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout private.key -out "$csr" \
    -subj "/CN=minio" 2>/dev/null || die "openssl could not make MinIO's key in $dir"
  openssl x509 -req -in "$csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 397 -extfile "$ext" \
    -out public.crt 2>/dev/null || die "openssl could not sign MinIO's certificate in $dir"
  rm -f ca.srl
  echo "make-tls: MinIO's certificate for $names in $dir/public.crt"
fi
# Keys for their owner only (MinIO's container runs as root, or as this user under rootless Docker).
chmod 600 ca.key private.key
chmod 644 ca.crt public.crt

# The machine's trusted CAs: Debian/Ubuntu, Fedora/RHEL, macOS and Alpine keep them here.
system=""
for candidate in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
  if [ -s "$candidate" ]; then system=$candidate; break; fi
done
{ cat ca.crt; if [ -n "$system" ]; then cat "$system"; fi; } >ca-bundle.crt.new
mv ca-bundle.crt.new ca-bundle.crt
chmod 644 ca-bundle.crt
[ -n "$system" ] || echo "make-tls: no system CA file found: $dir/ca-bundle.crt trusts the lab's CA only" >&2
