"""`make up STORE=...` and `make train STORE=...`: the whole lab on another S3 server in MinIO's place."""

from __future__ import annotations

import json
import re

import pytest
from dotenv import dotenv_values

from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e

LIMIT = 150


@pytest.mark.parametrize("store", ["versitygw", "seaweedfs"])
def test_the_lab_runs_end_to_end_on_another_store(lab, store):
    try:
        up = lab.make("up", STORE=store, SEED_LIMIT=str(LIMIT))
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        # The store serving as `minio` is the one asked for, and healthy by its own check.
        files = [
            "-f",
            str(REPO / "docker-compose.yml"),
            "-f",
            str(REPO / "docker" / "stores" / store / "compose.yml"),
        ]
        status = lab.compose(*files, "ps", "--format", "json", "minio")
        rows = [json.loads(line) for line in status.stdout.splitlines() if line.strip()]
        assert rows and rows[0]["Health"] == "healthy" and f"/{store}:" in rows[0]["Image"], rows
        # The seeder made the trainer a user of its own there, and the trainer runs with its keys.
        assert re.search(r"trainer user '[^']+': read mnist/ and mnist-shards/", up.stdout), up.stdout[-2000:]
        assert f"(train {LIMIT}, test {LIMIT}): uploaded {2 * LIMIT}, skipped 0" in up.stdout, up.stdout[
            -2000:
        ]

        train = lab.make("train", STORE=store, EPOCHS="1", ARGS=f"--run-id e2e-{store} --no-progress")
        assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
        assert (
            f"train: {LIMIT} of {LIMIT} objects, 0 duplicates; test: {LIMIT} of {LIMIT} objects, 0 duplicates"
            in (train.stdout)
        )
        assert f"model.pt, metrics.json and report.png at s3://lab-data/runs/e2e-{store}/" in train.stdout
    finally:
        # Its volume is declared in the store's own Compose file: only a clean with STORE removes it.
        lab.make("clean", STORE=store, timeout=300)


@pytest.mark.parametrize("token", ["", "lab-only-token"], ids=["no-token", "token"])
def test_on_garage_the_trainer_holds_keys_garage_knows(token):
    """Without STORE_ADMIN_TOKEN the seeder makes no trainer key on Garage, so the trainer and
    JupyterLab get the admin keys; with it, the trainer's own keys (which the seeder imports)."""
    import os
    import subprocess

    # Only what make and Compose need: settings left in this process's environment by other tests
    # (AWS_* among them) would win over .env.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "STORE_ADMIN_TOKEN": token}
    planned = subprocess.run(
        ["make", "-C", str(REPO), "-n", "train", "STORE=garage"], env=env, capture_output=True, text=True
    )
    command = next(line for line in planned.stdout.splitlines() if " run --rm " in line)
    compose = command.split(" run --rm ")[0].split()
    config = subprocess.run(
        [*compose, "--profile", "workshop", "config", "--format", "json"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert config.returncode == 0, config.stderr
    services = json.loads(config.stdout)["services"]
    settings = dotenv_values(REPO / ".env")
    expected = settings["AWS_ACCESS_KEY_ID"] if token else settings["MINIO_ROOT_USER"]
    for service in ("trainer", "jupyter"):
        assert services[service]["environment"]["AWS_ACCESS_KEY_ID"] == expected, service
