"""The Compose stack as users run it: `make` targets in a project of its own, torn down after."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from labcore.settings import read_environment
from tests.conftest import free_port, offline_source

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Lab:
    """A running copy of the lab under its own Compose project name and ports."""

    env: dict[str, str]

    def make(self, *targets: str, timeout: float = 1800, **variables: str) -> subprocess.CompletedProcess:
        args = ["make", "-C", str(REPO), *targets, *(f"{k}={v}" for k, v in variables.items())]
        return subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=timeout)

    def compose(self, *args: str) -> subprocess.CompletedProcess:
        cmd = ["docker", "compose", "--project-directory", str(REPO), *args]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The lab's environment for a project of its own; `make clean` at the end."""
    source = str(offline_source())
    settings_env = read_environment()
    api_port = free_port()
    env = {
        **os.environ,
        # Never touch a user's own `make up`: another project name, other ports.
        "COMPOSE_PROJECT_NAME": f"mtl-e2e-{uuid.uuid4().hex[:8]}",
        "MINIO_API_PORT": str(api_port),
        # The host-side tools (make bench) must follow the port.
        "MINIO_ENDPOINT": f"127.0.0.1:{api_port}",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{api_port}",
        "MINIO_CONSOLE_PORT": str(free_port()),
        "MINIO_IMAGE": settings_env["MINIO_IMAGE"],
        "PYTHON_IMAGE": settings_env["PYTHON_IMAGE"],
        # make workshop: another port, and a token in the environment so no .env.local is written.
        "JUPYTER_PORT": str(free_port()),
        "JUPYTER_TOKEN": uuid.uuid4().hex,
        # A subset keeps the e2e run short; every `make` call in the tests uses this one.
        "SEED_LIMIT": "150",
        "WORKSHOP_LIMIT": "150",
        "SOURCE_DIR": source,
    }
    env.pop("MAKEFLAGS", None)
    lab = Lab(env)
    try:
        yield lab
    finally:
        lab.make("clean", timeout=300)
