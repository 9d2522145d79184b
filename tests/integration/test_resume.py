"""Checkpoints on MinIO: a trainer killed with SIGKILL mid-epoch resumes and loses nothing."""

from __future__ import annotations

import io
import json
from urllib.parse import urlsplit

import pytest
from minio.commonconfig import CopySource

from seeder.upload import ensure_bucket
from tests.conftest import assert_one_line_error, kill_when
from tests.faultproxy import delaying_proxy
from tests.forked import run_forked, start_forked

TRAIN = 1500
# A small shuffle buffer so the kill meets reads in flight, not a worker that read everything up front.
ARGS = [
    "--epochs", "2", "--batch-size", "10", "--workers", "2", "--checkpoint-every", "5",
    "--shuffle-buffer", "16", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def base_run(seed_bucket, tmp_path_factory):
    """A bucket of 60 samples with one finished one-epoch run ``base``, trained once per module."""
    bucket = seed_bucket({"train": 60, "test": 10}, learnable=True)
    first = run_forked(
        "trainer",
        ["--epochs", "1", "--no-progress", "--run-id", "base"],
        bucket.env,
        tmp_path_factory.mktemp("base"),
    )
    assert first.returncode == 0, first.stderr[-2000:]
    return bucket


@pytest.fixture
def finished_run(base_run, lab_env):
    """This test's bucket (``lab_env``) holding a copy of :func:`base_run`'s: samples, checkpoints
    and outputs, copied inside the server, so each test changes a run of its own."""
    client, source = base_run.client, base_run.settings.bucket
    ensure_bucket(client, lab_env["BUCKET"])
    for obj in client.list_objects(source, recursive=True):
        client.copy_object(lab_env["BUCKET"], obj.object_name, CopySource(source, obj.object_name))
    return client


def test_sigkill_mid_epoch_then_resume(seed_bucket, lab_env, tmp_path):
    client = seed_bucket({"train": TRAIN, "test": 30}, learnable=True, env=lab_env).client
    bucket = lab_env["BUCKET"]
    process = start_forked("trainer", [*ARGS, "--run-id", "killed"], lab_env, tmp_path)
    kill_when(
        process,
        lambda: any(
            o.object_name.endswith("epoch-001-step-000010.pt")
            for o in client.list_objects(bucket, prefix="checkpoints/killed/")
        ),
        timeout=300,
        what="the second checkpoint of epoch 1",
    )
    pointer = json.loads(client.get_object(bucket, "checkpoints/killed/latest.json").read())
    assert pointer["step"] % 5 == 0 and pointer["key"].endswith(".pt")
    assert pointer["epoch"] == 1 and pointer["step"] < TRAIN // 10, "killed mid-epoch"

    resumed = run_forked("trainer", [*ARGS, "--resume", "--run-id", "killed"], lab_env, tmp_path, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming at epoch {pointer['epoch']}, after {pointer['step']} batches" in resumed.stdout
    metrics = json.loads(client.get_object(bucket, "runs/killed/metrics.json").read())
    # Exactly as many samples trained as an uninterrupted run: every sample once per epoch.
    assert [e["trained_samples"] for e in metrics["per_epoch"]] == [TRAIN, TRAIN]
    assert metrics["resumed"] is True
    epoch_lines = [
        line
        for line in resumed.stdout.splitlines()
        if f"train: {TRAIN} of {TRAIN} objects, 0 duplicates" in line
    ]
    assert len(epoch_lines) == 2 - (pointer["epoch"] - 1)


def test_resume_refuses_a_changed_order_and_a_missing_run(finished_run, lab_env, tmp_path):
    changed = run_forked("trainer", ["--resume", "--run-id", "base", "--seed", "3"], lab_env, tmp_path)
    assert_one_line_error(changed, 2, r"run base was started with seed=0; resume it with the same settings")
    missing = run_forked("trainer", ["--resume", "--run-id", "never"], lab_env, tmp_path)
    assert_one_line_error(missing, 2, r"nothing to resume: no s3://.*/checkpoints/never/latest\.json")


def test_reusing_a_run_id_needs_resume_or_overwrite(finished_run, lab_env, tmp_path):
    again = run_forked("trainer", ["--epochs", "1", "--run-id", "base"], lab_env, tmp_path)
    assert_one_line_error(
        again, 2, r"run base already exists \(s3://.*/checkpoints/base/\): continue it with --resume"
    )
    replaced = run_forked(
        "trainer", ["--epochs", "1", "--run-id", "base", "--overwrite", "--no-progress"], lab_env, tmp_path
    )
    assert replaced.returncode == 0, replaced.stderr[-2000:]


def test_an_overwriting_run_killed_before_its_first_checkpoint_is_never_resumed_as_the_old(
    finished_run, lab_env, tmp_path
):
    client = finished_run
    pointer_key = "checkpoints/base/latest.json"
    process = start_forked(
        "trainer", ["--overwrite", "--run-id", "base", "--epochs", "2", "--no-progress"], lab_env, tmp_path
    )
    kill_when(
        process,
        lambda: json.loads(client.get_object(lab_env["BUCKET"], pointer_key).read()).get("key") is None,
        timeout=60,
        what="the overwriting run's pointer",
    )
    resumed = run_forked("trainer", ["--resume", "--run-id", "base", "--epochs", "2"], lab_env, tmp_path)
    assert_one_line_error(
        resumed, 2, r"run base was started again with --overwrite and has no checkpoint since"
    )


def test_resume_refuses_a_changed_dataset(finished_run, lab_env, tmp_path):
    client = finished_run
    # Re-seeding with another sample (or pruning one) changes the listing the run's order came from.
    body = client.get_object(
        lab_env["BUCKET"],
        next(iter(client.list_objects(lab_env["BUCKET"], "mnist/train/", recursive=True))).object_name,
    ).read()
    client.put_object(lab_env["BUCKET"], "mnist/train/3/99999.png", io.BytesIO(body), len(body))
    resumed = run_forked("trainer", ["--resume", "--run-id", "base"], lab_env, tmp_path)
    assert_one_line_error(
        resumed, 2, r"the dataset changed since run base was checkpointed .*start a new run"
    )


def test_resume_refuses_shards_of_another_dataset_with_the_same_counts(seed_bucket, lab_env, tmp_path):
    shards = {"objects": False, "shard_size": 20, "learnable": True, "env": lab_env}
    seed_bucket({"train": 60, "test": 10}, seed=0, **shards)
    args = ["--loader", "shards", "--no-progress", "--run-id", "sharded"]
    first = run_forked("trainer", [*args, "--epochs", "1"], lab_env, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    # Other samples, the same keys and counts: only the shards' SHA-256s tell the datasets apart.
    seed_bucket({"train": 60, "test": 10}, seed=1, **shards)
    resumed = run_forked("trainer", [*args, "--epochs", "2", "--resume"], lab_env, tmp_path)
    assert_one_line_error(
        resumed, 2, r"the dataset changed since run sharded was checkpointed .*start a new run"
    )


@pytest.mark.parametrize(
    "pointer,pattern",
    [
        (b"{not json", r"checkpoints/base/latest\.json is not valid JSON"),
        (b'["a list"]', r"checkpoints/base/latest\.json is not a JSON object"),
        (b'{"key": "../../etc/passwd"}', r"latest\.json does not name a checkpoint of run base"),
        (
            b'{"key": "checkpoints/base/garbage.pt"}',
            r"s3://.*/checkpoints/base/garbage\.pt is not a checkpoint",
        ),
    ],
)
def test_a_damaged_pointer_is_one_line(finished_run, lab_env, tmp_path, pointer, pattern):
    client = finished_run
    bucket = lab_env["BUCKET"]
    client.put_object(bucket, "checkpoints/base/garbage.pt", io.BytesIO(b"not a torch file"), 16)
    client.put_object(bucket, "checkpoints/base/latest.json", io.BytesIO(pointer), len(pointer))
    resumed = run_forked("trainer", ["--resume", "--run-id", "base"], lab_env, tmp_path)
    assert_one_line_error(resumed, 1, pattern)


@pytest.mark.parametrize(
    "held,args,what",
    [
        (
            rb"PUT /[^/ ]+/runs/wedged/model\.pt",
            ["--epochs", "1", "--run-id", "wedged"],
            "saving the run's model",
        ),
        (
            rb"GET /[^/ ]+/checkpoints/base/epoch-",
            ["--epochs", "2", "--resume", "--run-id", "base"],
            "reading the run's latest checkpoint",
        ),
    ],
    ids=["saving-the-run", "reading-the-checkpoint"],
)
def test_a_store_wedged_after_the_last_epoch_or_on_resume_is_one_line(
    request, seed_bucket, lab_env, tmp_path, held, args, what
):
    """The store stops answering (a request held back, as MinIO paused) while the run's outputs
    are saved, or while a resume reads its checkpoint: one line within CHECKPOINT_TIMEOUT's share,
    not a wait as long as the store takes."""
    if "--resume" in args:
        request.getfixturevalue("finished_run")
    else:
        seed_bucket({"train": 60, "test": 10}, learnable=True, env=lab_env)
    endpoint = urlsplit(lab_env["AWS_ENDPOINT_URL"])
    with delaying_proxy((endpoint.hostname, endpoint.port), held, seconds=300) as proxy:
        env = {
            **lab_env,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
            "CHECKPOINT_TIMEOUT": "5",
            "DATA_TIMEOUT": "3",
        }
        result = run_forked("trainer", [*args, "--no-progress"], env, tmp_path, timeout=120)
    assert proxy.delayed >= 1, "the request was held back"
    assert_one_line_error(result, 1, rf"no answer from the object store at .* for \d+ s while {what}")
