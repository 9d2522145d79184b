"""``mc mirror`` of a local directory into the lab's MinIO, with the ``mc`` the MinIO image ships.

The lab's image (docker/minio/Dockerfile) has ``mc`` at /usr/local/bin/mc for its healthcheck, so the
baseline needs nothing else installed. mc runs with its defaults (its worker count starts at the
number of CPUs and grows while throughput does): it is the baseline, and is not tuned.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from labcore.clients import Endpoint

MARK = "mc-mirror-seconds"
# Timed inside the container, so the container's start and stop are not counted as upload time.
SCRIPT = (
    'command -v mc >/dev/null 2>&1 || { echo "the image has no mc on its PATH" >&2; exit 127; }; '
    's=$(date +%s.%N); mc mirror --quiet /data "$1" >&2 || exit $?; e=$(date +%s.%N); '
    f'echo "{MARK} $s $e"'
)


class Unmeasured(Exception):
    """Why ``mc mirror`` could not be measured (no Docker, no image, mc failed): one line."""


@dataclass(frozen=True)
class MirrorRun:
    seconds: float  # mc mirror alone, timed in the container
    wall_seconds: float  # the whole `docker run`, container start and stop included


def mc_host(endpoint: Endpoint) -> str:
    """``MC_HOST_<alias>`` for ``endpoint``: a URL with the credentials in it, escaped."""
    scheme = "https" if endpoint.secure else "http"
    user, secret = quote(endpoint.access_key, safe=""), quote(endpoint.secret_key, safe="")
    return f"{scheme}://{user}:{secret}@{endpoint.host_port}"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def mirror(
    image: str, directory: Path, target: str, endpoint: Endpoint, *, timeout: float = 1800
) -> MirrorRun:
    """``mc mirror`` ``directory`` to ``target`` (``bucket/prefix``) on ``endpoint``, from ``image``.

    The container shares the host's network, so the endpoint the host uses (127.0.0.1:9000) is the
    one mc uses. The credentials reach mc through the environment, not the command line.
    """
    docker = shutil.which("docker")
    if docker is None:
        raise Unmeasured("docker is not installed")
    if not image:
        raise Unmeasured("MINIO_IMAGE is not set (.env)")
    inspect = subprocess.run(
        [docker, "image", "inspect", "--format", "{{.Id}}", image], capture_output=True, text=True
    )
    if inspect.returncode != 0:
        raise Unmeasured(f"image {image} is not available ({_last_line(inspect.stderr)}): make minio-image")
    name = f"seed-bench-mc-{uuid.uuid4().hex[:8]}"
    command = [
        docker, "run", "--rm", "--name", name, "--network", "host",
        "-v", f"{directory.resolve()}:/data:ro", "-e", "MC_HOST_lab",
        "--entrypoint", "sh", image, "-c", SCRIPT, "sh", f"lab/{target}",
    ]  # fmt: skip
    started = time.monotonic()
    try:
        result = subprocess.run(
            command,
            env={**os.environ, "MC_HOST_lab": mc_host(endpoint)},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        subprocess.run([docker, "rm", "-f", name], capture_output=True)
        raise Unmeasured(f"mc mirror took longer than {timeout:.0f} s") from None
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise Unmeasured(f"mc mirror exited {result.returncode}: {_last_line(result.stderr)}")
    for line in result.stdout.splitlines():
        if line.startswith(MARK):
            begin, end = (float(x) for x in line.split()[1:3])
            return MirrorRun(seconds=end - begin, wall_seconds=wall)
    raise Unmeasured(f"mc mirror ran but did not report its time: {_last_line(result.stdout)}")
