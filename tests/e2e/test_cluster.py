"""The 4-node cluster as the README runs it: `make cluster-up`, `make cluster-train`, node loss.

One Compose project of its own for the module (its own name and loopback ports), torn down at the
end. Faults are real: MinIO nodes stopped with `docker stop`, a trainer container killed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from minio import Minio

from labcore.settings import read_environment
from tests.conftest import free_port, offline_source, wait_for
from tests.e2e.conftest import REPO

pytestmark = pytest.mark.e2e

SAMPLES = 1200
TRAIN = {
    "EPOCHS": "2",
    "NUM_WORKERS": "1",
    "BATCH_SIZE": "16",
    "SHUFFLE_BUFFER": "16",
    "CHECKPOINT_EVERY": "4",
}


@dataclass
class Cluster:
    env: dict[str, str]
    project: str

    def make(self, *targets: str, timeout: float = 900, **variables: str) -> subprocess.CompletedProcess:
        args = ["make", "-C", str(REPO), *targets, *(f"{k}={v}" for k, v in variables.items())]
        return subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=timeout)

    def train(self, **variables: str) -> subprocess.Popen:
        args = [
            "make",
            "-C",
            str(REPO),
            "cluster-train",
            *(f"{k}={v}" for k, v in {**TRAIN, **variables}.items()),
        ]
        return subprocess.Popen(
            args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def container(self, service: str) -> str:
        return f"{self.project}-{service}-1"

    def docker(self, *args: str) -> str:
        return subprocess.run(
            ["docker", *args], capture_output=True, text=True, check=True, timeout=120
        ).stdout

    def client(self) -> Minio:
        env = read_environment()
        return Minio(
            f"127.0.0.1:{self.env['CLUSTER_API_PORT']}",
            access_key=env["MINIO_ROOT_USER"],
            secret_key=env["MINIO_ROOT_PASSWORD"],
            secure=False,
        )

    def checkpoints(self, run_id: str) -> int:
        client = self.client()
        return sum(
            1
            for o in client.list_objects("lab-data", f"checkpoints/{run_id}/")
            if o.object_name.endswith(".pt")
        )

    def resumable(self, run_id: str) -> bool:
        """Whether the run has ``latest.json`` (written after the checkpoint it names)."""
        client = self.client()
        return any(
            o.object_name.endswith("latest.json")
            for o in client.list_objects("lab-data", f"checkpoints/{run_id}/")
        )

    def heal(self, *nodes: str) -> None:
        """Start stopped nodes and let the load balancer resolve them again."""
        for node in nodes:
            self.docker("start", self.container(node))
        for node in nodes:
            wait_for(
                lambda node=node: (
                    '"healthy"'
                    in self.docker(
                        "inspect", "--format", "{{json .State.Health.Status}}", self.container(node)
                    )
                ),
                120,
                f"{node} healthy",
            )
        self.docker("restart", self.container("lb"))
        wait_for(
            lambda: (
                '"healthy"'
                in self.docker("inspect", "--format", "{{json .State.Health.Status}}", self.container("lb"))
            ),
            60,
            "lb healthy",
        )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    source = str(offline_source())
    settings_env = read_environment()
    project = f"mtl-cluster-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "COMPOSE_PROJECT_NAME": project,
        "CLUSTER_API_PORT": str(free_port()),
        "CLUSTER_CONSOLE_PORT": str(free_port()),
        "MINIO_IMAGE": settings_env["MINIO_IMAGE"],
        "PYTHON_IMAGE": settings_env["PYTHON_IMAGE"],
        "SOURCE_DIR": source,
        "SEED_LIMIT": str(SAMPLES),
        "DATA_TIMEOUT": "20",
        "DIST_TIMEOUT": "30",
    }
    env.pop("MAKEFLAGS", None)
    cluster = Cluster(env, project)
    try:
        up = cluster.make("cluster-up")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        assert f"(train {SAMPLES}, test {SAMPLES}): uploaded {2 * SAMPLES}" in up.stdout
        # The trainer image too, now: on a fresh machine its build (torch) takes minutes, which
        # the tests' waits for checkpoints are not meant to cover.
        built = cluster.make("cluster-build", timeout=1800)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
        yield cluster
    finally:
        cluster.make("cluster-down", timeout=300)


def finish(process: subprocess.Popen, timeout: float) -> str:
    try:
        out, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return out


def explain(out: str) -> str:
    """The lines that say why a run failed (a rank's own error line, tracebacks), then the tail.

    torchrun's closing summary fills the tail; the rank's own line can be far above it.
    """
    why = [line for line in out.splitlines() if "error" in line.lower() or "Traceback" in line]
    return "\n".join(why[:40]) + "\n--- last lines ---\n" + out[-3000:]


def test_four_nodes_form_one_erasure_set_of_eight_drives(cluster):
    info = subprocess.run(
        ["docker", "exec", cluster.container("minio1"), "sh", "-c",
         'mc alias set lab http://127.0.0.1:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null && mc admin info lab'],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert info.returncode == 0, info.stderr
    assert "8 drives online, 0 drives offline, EC:4" in info.stdout, info.stdout[-2000:]


def test_one_node_stopped_mid_epoch_changes_nothing(cluster):
    # With three test workers on two cores, a checkpoint PUT once took longer than the default 90 s
    # while MinIO waited for the lost node; in two runs beside two test workers, none took 23 s.
    process = cluster.train(RUN_ID="node-down", CHECKPOINT_TIMEOUT="240")
    wait_for(lambda: process.poll() is not None or cluster.checkpoints("node-down") >= 2, 300, "checkpoints")
    assert process.poll() is None, explain(finish(process, 10))
    cluster.docker("stop", cluster.container("minio3"))
    stopped_with = cluster.checkpoints("node-down")
    try:
        out = finish(process, 600)
    finally:
        cluster.heal("minio3")
    # How long the node's loss held up checkpoint PUTs, when over a quarter of their deadline.
    print(*[line for line in out.splitlines() if "one PUT took" in line], sep="\n")
    assert process.returncode == 0, explain(out)
    assert out.count(f"train: {SAMPLES} of {SAMPLES} objects, 0 duplicates") == 2, explain(out)
    assert "weights identical on 2 ranks" in out
    assert cluster.checkpoints("node-down") > stopped_with, "checkpoints kept being written with a node down"


def test_two_nodes_down_stop_checkpoints_with_one_line_and_resume_completes(cluster):
    process = cluster.train(RUN_ID="quorum")
    wait_for(lambda: process.poll() is not None or cluster.resumable("quorum"), 300, "a checkpoint")
    assert process.poll() is None, explain(finish(process, 10))
    for node in ("minio3", "minio4"):
        cluster.docker("stop", cluster.container(node))
    stopped_at = time.monotonic()
    try:
        out = finish(process, 300)
        took = time.monotonic() - stopped_at
    finally:
        cluster.heal("minio3", "minio4")
    assert process.returncode != 0
    errors = [line for line in out.splitlines() if "python -m trainer: error:" in line]
    assert any(
        re.search(r"has lost write quorum .*answers 503.*--resume --run-id quorum", e) for e in errors
    ), errors or [line for line in out.splitlines() if "error" in line.lower()][:20]
    assert took < 120, took
    resume = cluster.train(RUN_ID="quorum", RESUME="1")
    resumed = finish(resume, 600)
    assert resume.returncode == 0 and "resuming at epoch" in resumed, explain(resumed)
    metrics = json.loads(cluster.client().get_object("lab-data", "runs/quorum/metrics.json").read())
    assert [e["trained_samples"] for e in metrics["per_epoch"]] == [SAMPLES, SAMPLES]


def test_a_killed_trainer_container_stops_the_others_and_resume_completes(cluster):
    process = cluster.train(RUN_ID="container-killed")
    wait_for(
        lambda: process.poll() is not None or cluster.resumable("container-killed"),
        300,
        "a checkpoint",
    )
    assert process.poll() is None, explain(finish(process, 10))
    cluster.docker("kill", cluster.container("trainer-peer"))
    killed_at = time.monotonic()
    out = finish(process, 300)
    took = time.monotonic() - killed_at
    assert process.returncode != 0
    assert took < 120, took
    errors = [line for line in out.splitlines() if "python -m trainer: error:" in line]
    assert errors and all("--resume --run-id container-killed" in e for e in errors), out[-3000:]
    assert re.search(r"lost contact with rank \d", errors[0]), errors
    # The machine it ran on is gone: the run resumes on the one container left (an elastic resume).
    resume = cluster.train(RUN_ID="container-killed", RESUME="1", TRAINERS="1")
    resumed = finish(resume, 600)
    assert resume.returncode == 0, explain(resumed)
    assert "resuming at epoch 1 on 1 rank x 1 worker (it was checkpointed with world_size=2)" in resumed
    assert f"train: {SAMPLES} of {SAMPLES} objects, 0 duplicates (" in resumed, explain(resumed)
    metrics = json.loads(cluster.client().get_object("lab-data", "runs/container-killed/metrics.json").read())
    assert [e["trained_samples"] for e in metrics["per_epoch"]] == [SAMPLES, SAMPLES]
    assert metrics["world_size"] == 1


def test_a_run_on_one_container_killed_resumes_on_two_exactly_once(cluster):
    process = cluster.train(RUN_ID="grown", TRAINERS="1")
    wait_for(lambda: process.poll() is not None or cluster.resumable("grown"), 300, "a checkpoint")
    assert process.poll() is None, explain(finish(process, 10))
    cluster.docker("kill", cluster.container("trainer-head"))
    finish(process, 120)
    assert process.returncode != 0
    resume = cluster.train(RUN_ID="grown", RESUME="1", TRAINERS="2")
    resumed = finish(resume, 600)
    assert resume.returncode == 0, explain(resumed)
    assert "resuming at epoch 1 on 2 ranks x 1 worker (it was checkpointed with world_size=1)" in resumed
    assert f"train: {SAMPLES} of {SAMPLES} objects, 0 duplicates (" in resumed, explain(resumed)
    assert "weights identical on 2 ranks" in resumed
    metrics = json.loads(cluster.client().get_object("lab-data", "runs/grown/metrics.json").read())
    assert [e["trained_samples"] for e in metrics["per_epoch"]] == [SAMPLES, SAMPLES]
