"""The lab itself on each store: seeding, every loader for one epoch, checkpoint and resume, and
least privilege, run through the same commands a user types (``python -m seeder``, ``python -m trainer``).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from minio.error import S3Error

from labcore.settings import load_settings
from tests.conftest import run_module
from tests.e2e.conftest import OFFLINE_SOURCE

LOADERS = ("s3iter", "s3prefix", "map", "manual", "shards")


@pytest.fixture(scope="session")
def source() -> Path:
    path = Path(OFFLINE_SOURCE)
    if not (path / "train-labels-idx1-ubyte.gz").exists():
        pytest.fail(f"no IDX files at {path}: apt-get install dataset-fashion-mnist")
    return path


@pytest.fixture(scope="session")
def seeded(store, source, samples, tmp_path_factory) -> dict[str, str]:
    """A bucket on the store seeded with objects and shards by ``python -m seeder``."""
    cwd = tmp_path_factory.mktemp(f"seeded-{store.name}")
    env = store.env(f"lab-{store.name}")
    result = run_module(
        "seeder",
        [
            "--source",
            str(source),
            "--limit",
            str(samples),
            "--format",
            "both",
            "--shard-size",
            "50",
            "--no-progress",
        ],
        env,
        cwd,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count(f"(train {samples}, test {samples})") == 1, result.stdout
    return env


@pytest.mark.capability("seeding, re-seed uploads nothing")
def test_seeding_is_idempotent(store, seeded, source, samples, tmp_path):
    env = dict(seeded)
    again = run_module(
        "seeder",
        ["--source", str(source), "--limit", str(samples), "--format", "both", "--shard-size", "50"],
        env,
        tmp_path,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    # Objects and shards alike: the ETags (or the recorded SHA-256s) say every byte is there.
    assert again.stdout.count("uploaded 0,") == 2, again.stdout


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.capability("loader {loader}: one epoch, exactly once")
def test_each_loader_delivers_every_sample_once(store, seeded, samples, loader, tmp_path):
    env = dict(seeded)
    args = ["--loader", loader, "--epochs", "1", "--workers", "2", "--no-progress", "--checkpoint-every", "0"]
    result = run_module("trainer", [*args, "--run-id", f"c-{loader}"], env, tmp_path, timeout=600)
    assert result.returncode == 0, f"{loader}: {result.stderr.strip().splitlines()[-1:]}"
    assert re.search(rf"train: {samples} of {samples} (objects|samples), 0 duplicates", result.stdout), (
        loader,
        result.stdout[-1500:],
    )


@pytest.mark.capability("checkpoint and resume")
def test_checkpoint_then_resume(store, seeded, samples, tmp_path):
    env = dict(seeded)
    common = ["--workers", "1", "--no-progress", "--run-id", "c-resume"]
    first = run_module(
        "trainer", [*common, "--epochs", "1", "--checkpoint-every", "4", "--overwrite"], env, tmp_path
    )
    assert first.returncode == 0, first.stderr[-1500:]
    # One more epoch on top of the checkpoint the first run ended with.
    resumed = run_module("trainer", [*common, "--epochs", "2", "--resume"], env, tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-1500:]
    assert "resuming at epoch 2, after 0 batches" in resumed.stdout, resumed.stdout[-1500:]
    assert f"train: {samples} of {samples} objects, 0 duplicates" in resumed.stdout


@pytest.mark.capability("snowball upload")
def test_snowball_seeding(store, source, bucket, tmp_path):
    """MinIO extracts the tars; elsewhere the seeder must refuse in one line and leave no tar behind."""
    env = {**store.env(bucket), "SEED_UPLOAD": "snowball"}
    result = run_module(
        "seeder", ["--source", str(source), "--limit", "60", "--splits", "train"], env, tmp_path
    )
    keys = [o.object_name for o in store.client().list_objects(bucket, recursive=True)]
    if store.adapter.snowball:
        assert result.returncode == 0, result.stderr[-1500:]
        assert len([k for k in keys if k.startswith("mnist/train/")]) == 60
        return
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr[-1500:]
    assert not [k for k in keys if k.endswith(".tar")], keys
    line = result.stderr.strip().splitlines()[-1]
    pytest.xfail(f"not offered: {line.removeprefix('python -m seeder: error: ')}")


@pytest.mark.capability("least privilege (trainer user and prefix policy)")
def test_trainer_keys_are_confined(store, seeded):
    """The trainer's keys may read the dataset and write checkpoints/ and runs/, nothing else.

    The checks run on every store. Where the lab cannot make a trainer user, the trainer holds
    the admin keys, so they find what those keys can do that the trainer should not: a known gap,
    reported in the matrix with what succeeded, never skipped.
    """
    from labcore.clients import minio_client

    env = dict(seeded)
    if store.adapter.least_privilege:
        env.update(AWS_ACCESS_KEY_ID="lab-conf-trainer", AWS_SECRET_ACCESS_KEY="lab-conf-trainer-secret")
        from labcore.stores import trainer_access

        assert "trainer user 'lab-conf-trainer'" in trainer_access(load_settings(environ=env))
    trainer = minio_client(load_settings(environ=env), convention="s3")
    bucket = env["BUCKET"]
    sample = next(trainer.list_objects(bucket, prefix="mnist/train/", recursive=True)).object_name
    trainer.put_object(bucket, "checkpoints/c/probe", io.BytesIO(b"{}"), 2)
    allowed = []
    for what, call in (
        ("overwrite a sample", lambda: trainer.put_object(bucket, sample, io.BytesIO(trainer.get_object(bucket, sample).read()), -1, part_size=5 * 1024 * 1024)),
        ("write outside checkpoints/ and runs/", lambda: trainer.put_object(bucket, "elsewhere/x", io.BytesIO(b"x"), 1)),
        ("list the whole bucket", lambda: list(trainer.list_objects(bucket, prefix="", recursive=True))),
    ):  # fmt: skip
        try:
            call()
            allowed.append(what)
        except S3Error as exc:
            assert exc.code == "AccessDenied", (what, exc.code)
    if store.adapter.least_privilege:
        assert not allowed, f"the trainer's keys could {', '.join(allowed)}"
    else:
        assert allowed, "the admin keys were refused: the store's admin is not what the lab thinks"
        pytest.xfail(
            f"least privilege unavailable on {store.adapter.title} (no user/policy admin in the lab's adapter): "
            f"the trainer holds the admin keys and could {', '.join(allowed)}"
        )


def test_loader_throughput(store, seeded, samples, request):
    """The bench's own loader passes on this store (2 workers, one pass): reported in the matrix's JSON."""
    from labcore.clients import minio_client
    from trainer.bench.loaders import Plan, list_split, run_loaders
    from trainer.connector import export_credentials

    settings = load_settings(environ=seeded)
    client = minio_client(settings, convention="s3")
    data = list_split(client, settings, "train", shards=True)
    export_credentials(settings)
    loaders = ["s3iter", "s3iter@8", "map", "shards"]
    results = run_loaders(
        settings, client, data, loaders, Plan([2], repeats=1, batch_size=32), None, lambda _: None
    )
    assert [r.samples for r in results] == [samples] * len(loaders)
    request.config._compat_extra.setdefault(store.name, {})["throughput_samples_per_s"] = {
        r.loader: round(r.rates[0]) for r in results
    }
