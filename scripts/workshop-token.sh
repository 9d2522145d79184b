#!/usr/bin/env bash
# Make sure JupyterLab has a token: keep the one in the environment or in FILE (default .env.local,
# untracked), else generate one into FILE. A token in the tracked .env would be public.
set -euo pipefail
file=${1:-.env.local}
if [ -n "${JUPYTER_TOKEN:-}" ] || { [ -f "$file" ] && grep -q '^JUPYTER_TOKEN=.' "$file"; }; then
  exit 0
fi
token=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
umask 077
touch "$file"
chmod 600 "$file"
printf '# Written by make workshop: the JupyterLab token (keep this file out of git).\nJUPYTER_TOKEN=%s\n' "$token" >>"$file"
echo "workshop: wrote a new JupyterLab token to $file"
