"""Faults really injected: the seeder killed mid-upload, MinIO restarted mid-epoch."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from labcore.clients import minio_client
from labcore.metrics import request_counts
from labcore.png import decode_png
from labcore.settings import load_settings
from tests.conftest import free_port, kill_when, run_module, spawn, wait_for
from tests.forked import run_forked, start_forked
from tests.integration.conftest import server_env, start_minio


def listing(client, bucket):
    return {o.object_name: o.etag for o in client.list_objects(bucket, recursive=True)}


def test_seeder_killed_mid_upload_converges(seed_bucket, lab_env, tmp_path):
    # The same dataset seeded in one go beside the bucket the killed seeder writes: what it converges to.
    reference = seed_bucket({"train": 3000}, env={**lab_env, "BUCKET": lab_env["BUCKET"] + "-ref"})
    directory, samples = reference.directory, reference.samples
    settings = load_settings(environ=lab_env)
    client = minio_client(settings)
    wanted = listing(client, reference.settings.bucket)

    args = ["--source", str(directory), "--splits", "train", "--workers", "2", "--no-progress"]
    process = spawn("seeder", args, lab_env, tmp_path)
    kill_when(
        process,
        lambda: (
            client.bucket_exists(settings.bucket)
            and sum(1 for _ in client.list_objects(settings.bucket, "mnist/", recursive=True)) >= 300
        ),
        timeout=120,
        what="300 uploaded objects",
    )
    partial = listing(client, settings.bucket)
    assert 300 <= len(partial) < len(wanted), "killed mid-upload"
    # Every object that is visible is complete: its pixels are the source's.
    for key in partial:
        index = int(key.rsplit("/", 1)[1][:-4])
        assert decode_png(client.get_object(settings.bucket, key).read())[2] == samples["train"][index][1], (
            key
        )

    rerun = run_module("seeder", args, lab_env, tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    # A PUT whose body was fully sent may still land after the kill: it is complete too.
    uploaded, skipped = map(int, re.search(r"uploaded (\d+), skipped (\d+)", rerun.stdout).groups())
    assert uploaded + skipped == 3000 and skipped >= len(partial)
    # The reference was seeded in-process; the command line also records the dataset's name.
    converged = listing(client, settings.bucket)
    assert converged.pop("mnist/dataset.json", None), "the seeder recorded the dataset"
    assert converged == wanted


@pytest.fixture
def restartable_minio():
    server = start_minio(host_port=free_port())
    try:
        yield server
    finally:
        server.stop()


# A small shuffle buffer: workers read as training goes, so a fault meets GETs in flight (with the
# default 8192 every worker would have read its 1500 objects before the first batch).
ARGS = [
    "--epochs", "1", "--batch-size", "10", "--workers", "2", "--checkpoint-every", "20",
    "--shuffle-buffer", "16", "--no-progress",
]  # fmt: skip
STEPS = 3000 // 10


def get_count(server) -> int:
    """GETs MinIO itself has counted since it (re)started."""
    env = server_env(server)
    return request_counts(
        f"http://{env['MINIO_ENDPOINT']}", env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"]
    )["GetObject"]


def step_at_fault(client, bucket: str, run_id: str) -> int:
    pointer = json.loads(client.get_object(bucket, f"checkpoints/{run_id}/latest.json").read())
    return pointer["step"]


def start_training(seed_bucket, server, tmp_path, run_id, *extra):
    seeded = seed_bucket({"train": 3000, "test": 20}, learnable=True, env=server_env(server))
    env, client = seeded.env, seeded.client
    process = start_forked("trainer", [*ARGS, *extra, "--run-id", run_id], env, tmp_path)
    # The pointer is written after the checkpoint it names: wait for it, not for the .pt.
    wait_for(
        lambda: any(
            o.object_name.endswith("latest.json")
            for o in client.list_objects(env["BUCKET"], f"checkpoints/{run_id}/")
        ),
        timeout=300,
        what="the first checkpoint",
    )
    return env, client, process


def finish(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    try:
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_minio_restart_mid_epoch_is_ridden_out(seed_bucket, restartable_minio, tmp_path):
    """A quick restart (seconds) falls within the connector's retries: the epoch completes,
    every sample exactly once, no resume needed."""
    env, client, process = start_training(seed_bucket, restartable_minio, tmp_path, "restarted")
    assert step_at_fault(client, env["BUCKET"], "restarted") < STEPS, "the fault comes mid-epoch"
    restartable_minio.get_wrapped_container().restart(timeout=2)
    out, err = finish(process, 600)
    assert process.returncode == 0, err[-3000:]
    assert "train: 3000 of 3000 objects, 0 duplicates" in out
    # MinIO's counters restart with it: GETs counted now were reads of the epoch after the fault.
    assert get_count(restartable_minio) > 1000


def test_minio_outage_stops_cleanly_and_resume_completes(seed_bucket, restartable_minio, tmp_path):
    """An outage longer than the retries: one line naming --resume; the resumed run completes
    the epoch with every sample exactly once."""
    env, client, process = start_training(seed_bucket, restartable_minio, tmp_path, "outage")
    container = restartable_minio.get_wrapped_container()
    container.stop(timeout=2)
    try:
        out, err = finish(process, 600)
    finally:
        container.start()
    lines = [line for line in err.splitlines() if line.strip()]
    assert process.returncode == 1 and len(lines) == 1 and "Traceback" not in err, err[-3000:]
    assert "continue with --resume --run-id outage" in lines[0]
    wait_for(lambda: _answers(client, env["BUCKET"]), timeout=120, what="MinIO back after the outage")
    resumed = run_forked("trainer", [*ARGS, "--resume", "--run-id", "outage"], env, tmp_path, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "train: 3000 of 3000 objects, 0 duplicates" in resumed.stdout
    metrics = json.loads(client.get_object(env["BUCKET"], "runs/outage/metrics.json").read())
    assert metrics["per_epoch"][0]["trained_samples"] == 3000


def test_minio_paused_mid_epoch_stops_within_a_minute(seed_bucket, restartable_minio, tmp_path):
    """docker pause: connections stay open and nothing answers. The lab's own deadline stops the
    run with one line (the connector alone waited 96 s, when the CRT gave up on throughput)."""
    env, client, process = start_training(seed_bucket, restartable_minio, tmp_path, "paused")
    assert step_at_fault(client, env["BUCKET"], "paused") < STEPS
    container = restartable_minio.get_wrapped_container()
    before = get_count(restartable_minio)
    container.pause()
    paused_at = time.monotonic()
    try:
        out, err = finish(process, 120)
        stopped_after = time.monotonic() - paused_at
    finally:
        container.unpause()
    lines = [line for line in err.splitlines() if line.strip()]
    assert process.returncode == 1 and len(lines) == 1 and "Traceback" not in err, err[-3000:]
    assert re.search(r"no answer from the object store at .* for 30 s .*--resume --run-id paused", lines[0])
    assert stopped_after < 60, stopped_after
    assert before > 0 and "train: 3000 of 3000" not in out


def test_manual_loader_with_minio_down_is_one_line(seed_bucket, restartable_minio, tmp_path):
    env, client, process = start_training(
        seed_bucket, restartable_minio, tmp_path, "manual-down", "--loader", "manual"
    )
    container = restartable_minio.get_wrapped_container()
    container.stop(timeout=2)
    try:
        out, err = finish(process, 300)
    finally:
        container.start()
    lines = [line for line in err.splitlines() if line.strip()]
    assert process.returncode == 1 and len(lines) == 1 and "Traceback" not in err, err[-3000:]
    assert re.search(r"(cannot reach|no answer from) .*--resume --run-id manual-down", lines[0]), lines[0]


def _answers(client, bucket: str) -> bool:
    try:
        return client.bucket_exists(bucket)
    except Exception:  # noqa: BLE001 - still starting: any failure means "not yet"
        return False
