"""Tar shards end to end: seeding, streaming with every worker count, seeded shard order."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter

import pytest

from labcore.shards import manifest_key, shard_of
from labcore.sources import load_split
from seeder.upload import seed_shards
from tests.conftest import assert_one_line_error
from tests.forked import run_forked
from tests.integration.conftest import use_credentials
from trainer.datasets import build_loader
from trainer.planning import plan_split

COUNTS = {"train": 23, "test": 7}
SHARD_SIZE = 10  # train: 3 shards (10, 10, 3), test: 1 shard; fewer shards than 4 workers


@pytest.fixture(scope="module")
def sharded(seed_bucket):
    """A bucket seeded once for the module with shards alone (no objects)."""
    bucket = seed_bucket(COUNTS, objects=False, shard_size=SHARD_SIZE)
    return bucket.env, bucket.settings, bucket.client, bucket.directory, bucket.shard_report


def test_seeding_writes_shards_and_manifest_idempotently(sharded):
    env, settings, client, directory, report = sharded
    assert (report.uploaded, report.objects) == (4, {"train": 3, "test": 1})
    manifest = json.loads(client.get_object(settings.bucket, manifest_key("mnist-shards")).read())
    assert manifest["splits"]["train"]["samples"] == 23
    assert [s["samples"] for s in manifest["splits"]["train"]["shards"]] == [10, 10, 3]
    again = seed_shards(
        client,
        settings.bucket,
        "mnist-shards",
        [load_split(directory, n) for n in COUNTS],
        shard_size=SHARD_SIZE,
        progress=False,
    )
    assert (again.uploaded, again.skipped) == (0, 4)


def shard_epoch(settings, client, split, workers, *, shuffle, epoch=1, buffer=0):
    plan = plan_split(client, settings, split, shards=True)
    loader = build_loader(
        "shards",
        settings,
        split,
        batch_size=4,
        workers=workers,
        shuffle=shuffle,
        shuffle_buffer=buffer,
        seed=3,
        shard_keys=plan.shard_keys,
    )
    keys = [k for batch in loader.epoch(epoch) for k in batch[2]]
    return plan, keys


@pytest.mark.parametrize("workers", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_sample_exactly_once(sharded, monkeypatch, workers, shuffle):
    _, settings, client, _, _ = sharded
    use_credentials(monkeypatch, settings)
    for split in COUNTS:
        plan, keys = shard_epoch(
            settings, client, split, workers, shuffle=shuffle, buffer=5 if shuffle else 0
        )
        assert not [k for k, n in Counter(keys).items() if n > 1]
        # A shard sample is identified by its shard's key and member name.
        assert dict(Counter(shard_of(k) for k in keys)) == plan.shards


def test_shard_order_is_seeded_per_epoch(sharded, monkeypatch):
    _, settings, client, _, _ = sharded
    use_credentials(monkeypatch, settings)
    orders = {}
    for epoch in (1, 2, 3, 4):
        _, orders[epoch] = shard_epoch(settings, client, "train", 0, shuffle=True, epoch=epoch)
    _, repeat = shard_epoch(settings, client, "train", 0, shuffle=True, epoch=1)
    assert repeat == orders[1]
    assert len({tuple(o) for o in orders.values()}) > 1, "shard order must change across epochs"


def test_trainer_with_shards_and_more_workers_than_shards(sharded, tmp_path):
    env, *_ = sharded
    args = ["--loader", "shards", "--epochs", "1", "--workers", "4", "--no-progress"]
    result = run_forked("trainer", args, env, tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train: 23 of 23 samples, 0 duplicates; test: 7 of 7 samples, 0 duplicates" in result.stdout


def test_bench_smoke(seed_bucket, tmp_path):
    """One small run of the benchmark: every loader, real GET counts from MinIO's metrics."""
    env = seed_bucket({"train": 30, "test": 5}, shard_size=8).env
    out = tmp_path / "results"
    result = run_forked(
        "trainer.bench",
        ["--workers", "0,2", "--repeats", "1", "--out", str(out), "--batch-size", "8"]
        + ["--ceiling-seconds", "1", "--train", "s3iter,map", "--seeds", "1"],
        env,
        tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(next(out.glob("bench-*.json")).read_text())
    rows = {(r["loader"], r["workers"]): r for r in report["rows"]}
    assert set(rows) == {
        (lo, w)
        for lo in ("manual", "manual@8", "s3iter", "s3iter@8", "s3prefix", "map", "shards", "local")
        for w in (0, 2)
    }
    for (loader, _), row in rows.items():
        assert row["samples"] == 30
        expected_gets = {"shards": 4, "local": 0}.get(loader, 30)  # one GET per object or shard
        assert row["get_requests"] == expected_gets, (loader, row)
    # Batches of the listing order hold few labels; a permutation mixes them (seeded: the same every run).
    assert all(0 <= row["label_entropy_bits"] <= 3.33 and row["peak_rss_mb"] > 50 for row in rows.values())
    assert rows[("s3iter@8", 0)]["label_entropy_bits"] > rows[("s3prefix", 0)]["label_entropy_bits"]
    assert next(out.glob("bench-*.png")).stat().st_size > 1000
    assert "| loader | workers |" in result.stdout and "target shards >= 0.9x local" in result.stdout
    # The ceiling: real GETs through wrk at each connection count, every one answered 200.
    assert set(report["ceiling"]["requests_per_s"]) == {"1", "4", "16", "64"}
    assert all(rate > 0 for rate in report["ceiling"]["requests_per_s"].values())
    assert "of the server's small-GET ceiling" in result.stdout
    # One epoch of the real trainer per loader, read back from its own metrics.json.
    assert [(r["loader"], r["seed"]) for r in report["training"]] == [("s3iter", 0), ("map", 0)]
    for run in report["training"]:
        assert run["samples"] == 30 and 0 < run["data_wait"] < 1 and 0 <= run["test_accuracy"] <= 1
        assert 0 < run["label_entropy_bits"] <= 3.33
    names = [t["target"] for t in report["targets"]]
    assert any("waits for data" in n for n in names) and any("within 0.5 points of map" in n for n in names)


def test_a_truncated_shard_stops_the_trainer_at_that_shard(seed_bucket, lab_env, tmp_path):
    """Cut at a tar block boundary, a shard still streams without error: the manifest's SHA-256 catches it."""
    seeded = seed_bucket({"train": 30, "test": 10}, objects=False, shard_size=10, env=lab_env)
    client, key = seeded.client, seeded.shard("train", 1)
    body = client.get_object(lab_env["BUCKET"], key).read()
    cut = body[: len(body) // 2 // 512 * 512]
    client.put_object(lab_env["BUCKET"], key, io.BytesIO(cut), len(cut))
    result = run_forked(
        "trainer", ["--loader", "shards", "--epochs", "1", "--no-progress"], lab_env, tmp_path
    )
    assert_one_line_error(
        result, 1, rf"shard {key} (does not match its manifest|is damaged).*re-seed the shards"
    )


@pytest.mark.parametrize(
    "manifest",
    [
        {"splits": {"train": {"samples": 30}, "test": {"samples": 10}}},
        {"splits": {"train": {"shards": [{"key": "mnist-shards/train/shard-000000.tar"}]}}},
    ],
    ids=["no-shards", "no-samples"],
)
def test_a_damaged_manifest_stops_the_trainer_in_one_line(seed_bucket, lab_env, tmp_path, manifest):
    client = seed_bucket({"train": 30, "test": 10}, objects=False, shard_size=10, env=lab_env).client
    body = json.dumps(manifest).encode()
    client.put_object(lab_env["BUCKET"], "mnist-shards/manifest.json", io.BytesIO(body), len(body))
    result = run_forked(
        "trainer", ["--loader", "shards", "--epochs", "1", "--no-progress"], lab_env, tmp_path
    )
    assert_one_line_error(
        result,
        1,
        r"the shard manifest s3://.*/mnist-shards/manifest\.json is damaged .*re-seed with --format shards",
    )


def test_a_new_shard_size_stopped_before_its_manifest_leaves_the_old_shards_whole(
    seed_bucket, lab_env, monkeypatch
):
    """A seeder stopped at any point leaves the manifest and its shards in agreement: a new
    ``--shard-size`` writes new shard objects and switches the manifest last; ``--prune`` deletes
    the old shards only after that."""
    seeded = seed_bucket({"train": 30, "test": 10}, objects=False, shard_size=10, env=lab_env)
    client, bucket = seeded.client, lab_env["BUCKET"]
    before = seeded.manifest()
    put = client.put_object

    def stopped_at_the_manifest(bucket_name, key, *args, **kwargs):
        if key == manifest_key("mnist-shards"):
            raise KeyboardInterrupt  # as Ctrl-C just before the manifest's PUT
        return put(bucket_name, key, *args, **kwargs)

    monkeypatch.setattr(client, "put_object", stopped_at_the_manifest)
    with pytest.raises(KeyboardInterrupt):
        seed_shards(client, bucket, "mnist-shards", seeded.splits(), shard_size=7, prune=True, progress=False)
    monkeypatch.undo()

    def in_agreement(manifest) -> None:
        for split in manifest.values():
            for shard in split.shards:
                body = client.get_object(bucket, shard.key).read()
                assert hashlib.sha256(body).hexdigest() == shard.sha256, (
                    f"{shard.key} is not what the manifest lists"
                )

    assert seeded.manifest() == before
    in_agreement(before)
    # A trainer starting now streams the old manifest's shards only, not the new ones beside them.
    use_credentials(monkeypatch, seeded.settings)
    for shuffle in (True, False):
        plan, keys = shard_epoch(seeded.settings, client, "train", 2, shuffle=shuffle)
        assert len(keys) == len(set(keys)) == 30 and {shard_of(k) for k in keys} == set(plan.shard_keys)
    finished = seed_shards(
        client, bucket, "mnist-shards", seeded.splits(), shard_size=7, prune=True, progress=False
    )
    after = seeded.manifest()
    assert {name: len(split.shards) for name, split in after.items()} == {"train": 5, "test": 2}
    in_agreement(after)
    assert finished.pruned == 4  # the old manifest's 3 + 1 shards, gone only now
    listed = {shard.key for split in after.values() for shard in split.shards}
    present = {o.object_name for o in client.list_objects(bucket, prefix="mnist-shards/", recursive=True)}
    assert present - listed == {manifest_key("mnist-shards"), "mnist-shards/checksums.json"}
