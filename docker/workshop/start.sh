#!/bin/sh
# Serve JupyterLab with the workshop notebooks. The notebooks are mounted read-only at
# /home/lab/notebooks; each one is copied into the work volume once, so students' edits and outputs
# stay in the volume (make clean resets them) and the repository keeps clean notebooks.
set -eu
if [ -z "${JUPYTER_TOKEN:-}" ]; then
  echo "workshop: JUPYTER_TOKEN is empty; start with make workshop (it writes one to .env.local)" >&2
  exit 2
fi
for notebook in /home/lab/notebooks/*.ipynb; do
  [ -e "$notebook" ] || continue
  [ -e "/home/lab/work/$(basename "$notebook")" ] || cp "$notebook" /home/lab/work/
done
# Jupyter reads the token from JUPYTER_TOKEN. Inside the container it listens on every interface;
# Compose publishes the port on 127.0.0.1 only.
exec jupyter lab --no-browser --ip=0.0.0.0 --port=8888 --ServerApp.root_dir=/home/lab/work \
  --ServerApp.allow_remote_access=True
