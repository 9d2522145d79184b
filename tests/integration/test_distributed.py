"""Ranks x workers against a real MinIO: gloo ranks on this host, 1003 objects, every loader.

Loader tests start real gloo ranks (``tests.forked.start_ranks``) that build each loader after joining,
as the trainer does, and feed what every rank read through the real exactly-once check. Trainer
tests run ``python -m trainer`` under torchrun, as users do.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch

from tests.conftest import free_port, wait_for
from tests.faultproxy import delaying_proxy
from tests.forked import run_forked, start_forked, start_ranks
from tests.integration.ranks import read_epoch
from trainer.delivery import Delivery
from trainer.measure import child_pids
from trainer.planning import plan_split

SAMPLES = 1003
# "<loader>@K": the loader with K GETs in flight per worker (READ_AHEAD).
LOADERS = ("s3iter", "s3iter@8", "s3prefix", "map", "manual", "manual@8", "shards")
WORLDS = (2, 3)
WORKERS = (0, 2)


@pytest.fixture(scope="module")
def dataset(seed_bucket):
    """1003 train samples (and 29 test) as objects and as 11 shards of 100 (the last holds 3)."""
    bucket = seed_bucket({"train": SAMPLES, "test": 29}, learnable=True, shard_size=100)
    return bucket.env, bucket.settings, bucket.client


@pytest.fixture(scope="module")
def world_reads(dataset, tmp_path_factory):
    """``{(world, kind, workers): [rank 0's read, rank 1's, ...]}``: every case, one start per world."""
    env, *_ = dataset
    cases = [(kind, workers) for kind in LOADERS for workers in WORKERS]
    reads = {}
    for world in WORLDS:
        out = tmp_path_factory.mktemp(f"world{world}")
        start_ranks(read_epoch, (world, free_port(), env, cases, str(out)), world)
        by_rank = [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]
        for kind, workers in cases:
            reads[(world, kind, workers)] = [ranks[f"{kind}:{workers}"] for ranks in by_rank]
    return reads


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("kind", LOADERS)
@pytest.mark.parametrize("world", WORLDS)
def test_every_loader_splits_over_ranks_and_workers_exactly_once(dataset, world_reads, world, kind, workers):
    _, settings, client = dataset
    plan = plan_split(client, settings, "train", shards=kind == "shards")
    parts = []
    for read in world_reads[(world, kind, workers)]:
        part = Delivery()
        part.add(read["keys"], read["workers"])
        parts.append(part)
    noun = "samples" if kind == "shards" else "objects"
    line = Delivery.merge(parts).check(plan, "train")
    assert line == f"train: {SAMPLES} of {SAMPLES} {noun}, 0 duplicates"
    # Every rank, and every worker of it, had a share of the work.
    assert all(part.samples > 0 for part in parts)
    expected_workers = {"main"} if workers == 0 else {str(w) for w in range(workers)}
    assert all(set(part.per_worker) == expected_workers for part in parts), [p.per_worker for p in parts]


@pytest.mark.parametrize("kind", ["s3iter", "manual"])
@pytest.mark.parametrize("world", WORLDS)
def test_read_ahead_gives_every_rank_the_same_batches(world_reads, world, kind):
    for workers in WORKERS:
        plain, ahead = world_reads[(world, kind, workers)], world_reads[(world, f"{kind}@8", workers)]
        assert [r["keys"] for r in ahead] == [r["keys"] for r in plain], (world, kind, workers)


def torchrun(nproc: int, args: list[str], env: dict, cwd: Path, *, timeout: float = 600, wait=True):
    """``torchrun --nproc-per-node N -m trainer ARGS`` on loopback (c10d rendezvous), as in the README.

    torchrun itself (``torch.distributed.run``, what the ``torchrun`` command runs) is forked from
    the server that imported torch (:mod:`tests.forked`); its ranks are the processes it starts,
    ``python -u -m trainer``, each importing torch as a user's ranks do."""
    launcher = [
        "--nnodes",
        "1",
        "--nproc-per-node",
        str(nproc),
        "--rdzv-backend",
        "c10d",
        "--rdzv-endpoint",
        f"127.0.0.1:{free_port()}",
        "-m",
        "trainer",
        *args,
    ]
    full_env = {"OMP_NUM_THREADS": "1", **env}
    if not wait:
        return start_forked("torch.distributed.run", launcher, full_env, cwd)
    return run_forked("torch.distributed.run", launcher, full_env, cwd, timeout=timeout)


def metrics_of(client, bucket: str, run_id: str) -> dict:
    return json.loads(client.get_object(bucket, f"runs/{run_id}/metrics.json").read())


def uninterrupted_args(loader: str) -> list[str]:
    """2 epochs of 2 ranks x 2 workers in batches of 16 (32 steps per rank and epoch, room for a
    kill to land mid-epoch), a checkpoint every 5 steps."""
    return (
        f"--loader {loader} --epochs 2 --workers 2 --batch-size 16 --checkpoint-every 5 --no-progress".split()
    )


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory):
    """``uninterrupted(loader)``: torchrun's result for run ``whole-<loader>`` (2 ranks,
    :func:`uninterrupted_args`), run once per module and loader: the run several tests read."""
    env, *_ = dataset
    runs = {}

    def run(loader: str) -> subprocess.CompletedProcess:
        if loader not in runs:
            args = [*uninterrupted_args(loader), "--run-id", f"whole-{loader}"]
            runs[loader] = torchrun(2, args, env, tmp_path_factory.mktemp(f"whole-{loader}"))
        return runs[loader]

    return run


def test_two_ranks_train_exactly_once_with_identical_weights(dataset, uninterrupted):
    env, settings, client = dataset
    result = uninterrupted("s3iter")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert out.count(f"train: {SAMPLES} of {SAMPLES} objects, 0 duplicates; test: 29 of 29 objects") == 2, out
    assert out.count("loader s3iter, 2 ranks x 2 workers") == 1, "rank 0 alone prints"
    assert len(re.findall(r"weights identical on 2 ranks \(sha256 [0-9a-f]{12}\)", out)) == 2
    assert re.search(
        r"samples per rank \{0: 50[12], 1: 50[12]\}, per rank/worker \{0/0: \d+, 0/1: \d+, 1/0", out
    )
    metrics = metrics_of(client, settings.bucket, "whole-s3iter")
    assert metrics["world_size"] == 2
    assert [e["trained_samples"] for e in metrics["per_epoch"]] == [SAMPLES, SAMPLES]
    # Every rank seeds alike, but rank 0's share of each epoch is one sample larger (502 against
    # 501) and dropout draws per element: the RNG states a checkpoint keeps per rank differ, and
    # each rank resumes from its own.
    pointer = json.loads(client.get_object(settings.bucket, "checkpoints/whole-s3iter/latest.json").read())
    state = torch.load(
        io.BytesIO(client.get_object(settings.bucket, pointer["key"]).read()), weights_only=True
    )
    assert len(state["rng"]) == 2 and not torch.equal(state["rng"][0], state["rng"][1])


def test_four_ranks_with_unequal_step_counts_finish_every_epoch(dataset, tmp_path):
    """11 shards of up to 100 over 4 ranks: 3, 3, 3 and 2 shards, so rank 3 runs out of steps first."""
    env, settings, client = dataset
    args = ["--loader", "shards", "--epochs", "1", "--workers", "0", "--batch-size", "100"]
    result = torchrun(4, [*args, "--run-id", "uneven", "--no-progress"], env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"train: {SAMPLES} of {SAMPLES} samples, 0 duplicates" in result.stdout
    epoch = metrics_of(client, settings.bucket, "uneven")["per_epoch"][0]
    assert sorted(epoch["samples_per_rank"].values()) == [200, 203, 300, 300]
    steps = epoch["steps_per_rank"]
    assert len(set(steps.values())) > 1, steps  # the ranks really had different step counts
    assert epoch["trained_samples"] == SAMPLES
    assert "weights identical on 4 ranks" in result.stdout


def test_a_checkpoint_write_slower_than_dist_timeout_is_waited_for(dataset, tmp_path):
    """Rank 0's checkpoint PUT held back 25 s (a lost node makes them slow) with DIST_TIMEOUT=10:
    rank 1 waits for it at the checkpoint's own barrier, not at the next step's collective."""
    env, settings, client = dataset
    endpoint = urlsplit(env["AWS_ENDPOINT_URL"])
    held = rb"PUT /[^/ ]+/checkpoints/slow/epoch-001-step-000005\.pt"
    with delaying_proxy((endpoint.hostname, endpoint.port), held, seconds=25) as proxy:
        slow = {
            **env,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
            "DIST_TIMEOUT": "10",
            "DATA_TIMEOUT": "5",
            "CHECKPOINT_TIMEOUT": "60",
        }
        args = ["--epochs", "1", "--workers", "1", "--batch-size", "32", "--checkpoint-every", "5"]
        result = torchrun(2, [*args, "--run-id", "slow", "--no-progress"], slow, tmp_path)
    assert proxy.delayed >= 1, "the checkpoint PUT was held back"
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"train: {SAMPLES} of {SAMPLES} objects, 0 duplicates" in result.stdout, result.stdout
    # The slow PUT is said, with how much of its deadline it took.
    said = re.search(
        r"checkpoint at epoch 1, step 5: one PUT took (\d+\.\d) s of the 60 s it may take", result.stdout
    )
    assert said and 25 <= float(said[1]) < 60, result.stdout[-3000:]


def checkpointed(client, bucket: str, run_id: str, ending: str) -> bool:
    """Whether run ``run_id`` has written a checkpoint whose key ends with ``ending``."""
    return any(
        o.object_name.endswith(ending) for o in client.list_objects(bucket, prefix=f"checkpoints/{run_id}/")
    )


def rank_pids(torchrun_pid: int) -> dict[int, int]:
    """``{rank: pid}`` of torchrun's worker processes, read from /proc."""
    ranks = {}
    for pid in child_pids(torchrun_pid):
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        rank = next((int(v[5:]) for v in environ if v.startswith(b"RANK=")), None)
        if rank is not None:
            ranks[rank] = pid
    return ranks


def kill_whole_at(process, client, bucket: str, run_id: str, ending: str) -> None:
    """Once run ``run_id`` has written the checkpoint ending with ``ending``, SIGKILL every rank
    of the torchrun ``process`` and then torchrun, as a machine lost (torchrun puts each rank in
    a session of its own)."""
    try:
        wait_for(
            lambda: process.poll() is not None or checkpointed(client, bucket, run_id, ending),
            240,
            f"the checkpoint {ending}",
        )
    finally:
        ranks = rank_pids(process.pid) if process.poll() is None else {}
        for pid in ranks.values():
            os.kill(pid, signal.SIGKILL)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert len(ranks) >= 1 and process.returncode == -signal.SIGKILL, "killed mid-run"


def test_a_killed_rank_stops_the_others_and_resume_completes(dataset, tmp_path):
    env, settings, client = dataset
    env = {**env, "DIST_TIMEOUT": "30", "DATA_TIMEOUT": "20"}
    args = [
        "--epochs",
        "2",
        "--workers",
        "1",
        "--batch-size",
        "10",
        "--checkpoint-every",
        "5",
        "--no-progress",
    ]
    process = torchrun(2, [*args, "--run-id", "killed"], env, tmp_path, wait=False)
    try:
        wait_for(
            lambda: (
                process.poll() is not None
                or checkpointed(client, settings.bucket, "killed", "step-000010.pt")
            ),
            timeout=300,
            what="the second checkpoint",
        )
        assert process.poll() is None, process.communicate()[1][-3000:]
        pids = wait_for(lambda: rank_pids(process.pid), timeout=30, what="the rank processes")
        killed_at = time.monotonic()
        os.kill(pids[1], signal.SIGKILL)
        _, err = process.communicate(timeout=120)
        stopped_after = time.monotonic() - killed_at
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode != 0
    assert stopped_after < 30 + 15, stopped_after  # within DIST_TIMEOUT, with room for torchrun itself
    ours = [line for line in err.splitlines() if line.startswith("python -m trainer: error:")]
    assert len(ours) == 1, err[-3000:]
    assert re.search(
        r"rank 0: (stopped by torchrun|lost contact).*continue with --resume --run-id killed", ours[0]
    )

    pointer = json.loads(client.get_object(settings.bucket, "checkpoints/killed/latest.json").read())
    resumed = torchrun(2, [*args, "--resume", "--run-id", "killed"], env, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming at epoch {pointer['epoch']}, after {pointer['step']} batches" in resumed.stdout
    metrics = metrics_of(client, settings.bucket, "killed")
    assert [e["trained_samples"] for e in metrics["per_epoch"]] == [SAMPLES, SAMPLES]
    assert (
        Counter(
            line.count(f"{SAMPLES} of {SAMPLES} objects, 0 duplicates")
            for line in resumed.stdout.splitlines()
        )[1]
        >= 1
    )

    # Another batch size changes what a step is: resuming with it is refused in one line.
    other = run_forked(
        "trainer", [*args, "--batch-size", "12", "--resume", "--run-id", "killed"], env, tmp_path
    )
    assert other.returncode == 2 and "Traceback" not in other.stderr, other.stderr[-2000:]
    assert "run killed was started with batch_size=10; resume it with the same settings" in other.stderr


def test_a_run_killed_on_two_ranks_resumes_on_one_rank_with_three_workers_exactly_once(dataset, tmp_path):
    """2 ranks x 2 workers SIGKILLed after a mid-epoch checkpoint, resumed as 1 rank x 3 workers:
    the checkpoint's trained samples are left out of the epoch's new dealing, and its
    exactly-once check covers both runs."""
    env, settings, client = dataset
    args = [
        "--loader",
        "s3iter",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--checkpoint-every",
        "5",
        "--no-progress",
    ]
    process = torchrun(2, [*args, "--workers", "2", "--run-id", "elastic"], env, tmp_path, wait=False)
    kill_whole_at(process, client, settings.bucket, "elastic", "epoch-001-step-000010.pt")
    pointer = json.loads(client.get_object(settings.bucket, "checkpoints/elastic/latest.json").read())
    # Step 10's checkpoint, or step 5's when the kill came before the pointer moved on to 10 (the
    # pointer is written after the checkpoint it names), or a later one.
    assert pointer["epoch"] == 1 and pointer["step"] in (5, 10, 15, 20, 25, 30), "killed mid-epoch 1"
    trained = 2 * 16 * pointer["step"]
    resumed = run_forked(
        "trainer", [*args, "--workers", "3", "--resume", "--run-id", "elastic"], env, tmp_path, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    out = resumed.stdout
    print(*[line for line in out.splitlines() if "resuming" in line or "trained before" in line], sep="\n")
    assert (
        "resuming at epoch 1 on 1 rank x 3 workers (it was checkpointed with workers=2, world_size=2): "
        f"{trained} of its objects already trained, the other {SAMPLES - trained} dealt anew"
    ) in out, out
    assert f"train: {SAMPLES} of {SAMPLES} objects, 0 duplicates ({trained} of them trained before" in out, (
        out
    )
    assert out.count(f"train: {SAMPLES} of {SAMPLES} objects, 0 duplicates") == 2, out
    metrics = metrics_of(client, settings.bucket, "elastic")
    assert [e["trained_samples"] for e in metrics["per_epoch"]] == [SAMPLES, SAMPLES]
    assert metrics["world_size"] == 1 and metrics["workers"] == 3


@pytest.mark.parametrize("loader", ["s3iter", "map", "shards"])
def test_a_killed_and_resumed_two_rank_run_ends_with_the_same_weights(
    dataset, uninterrupted, tmp_path, loader
):
    """2 ranks x 2 workers, killed whole after a mid-epoch checkpoint and resumed: the final weights
    are bit for bit those of the same run left alone (each rank resumes its own RNG state, and
    every loader's order is a function of the seed and the epoch)."""
    env, settings, client = dataset
    args = uninterrupted_args(loader)
    whole = uninterrupted(loader)
    assert whole.returncode == 0, whole.stderr[-3000:]
    process = torchrun(2, [*args, "--run-id", f"cut-{loader}"], env, tmp_path, wait=False)
    kill_whole_at(process, client, settings.bucket, f"cut-{loader}", "epoch-001-step-000010.pt")
    resumed = torchrun(2, [*args, "--resume", "--run-id", f"cut-{loader}"], env, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # From step 10's checkpoint, or step 5's when the kill came before the pointer moved on.
    assert re.search(r"resuming at epoch 1, after [1-9]\d* batches", resumed.stdout), resumed.stdout
    assert "batch/s" not in resumed.stderr, "no progress bars with --no-progress"

    def weights(run_id: str) -> dict:
        body = client.get_object(settings.bucket, f"runs/{run_id}/model.pt").read()
        return torch.load(io.BytesIO(body), weights_only=True)

    alone, again = weights(f"whole-{loader}"), weights(f"cut-{loader}")
    assert alone.keys() == again.keys()
    assert [name for name in alone if not torch.equal(alone[name], again[name])] == []
