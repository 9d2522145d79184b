"""The bench at other object sizes (issue 23): a small sweep end to end against a real MinIO."""

from __future__ import annotations

import json

from labcore.clients import minio_client
from labcore.synthetic import SyntheticSpec
from tests.conftest import assert_one_line_error
from tests.forked import run_forked

LOADERS = ("s3iter", "s3iter@8", "manual@8", "map", "shards", "local")


def test_a_small_sweep_reads_every_key_once_with_all_its_bytes_at_each_size(lab_env, lab_settings, tmp_path):
    out = tmp_path / "results"
    args = ["--sizes", "1KB,64KB", "--bytes-per-point", "256KB", "--min-objects", "40", "--imagenet", "24"]
    args += ["--workers", "2", "--ceiling-seconds", "1", "--out", str(out)]
    result = run_forked("trainer.bench.sweep", args, lab_env, tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(next(out.glob("bench-sizes-*.json")).read_text())
    points = {p["size"]: p for p in report["points"] if not p["profile"]}
    # 256 KB per point: 256 objects of 1 KB; 64 KB objects would be 4, so the floor of 40 holds.
    assert {size: p["count"] for size, p in points.items()} == {1024: 256, 65536: 40}
    for size, point in points.items():
        assert [row["loader"] for row in point["rows"]] == list(LOADERS)
        for row in point["rows"]:
            # Every key once, and exactly count x size bytes, through every loader and local disk.
            assert row["samples"] == row["distinct"] == point["count"], (size, row)
            assert row["object_bytes"] == point["count"] * size, (size, row)
            assert row["mb_per_s_median"] > 0
        assert point["wrong"] == [] and point["ceiling_gets_per_s"] > 0
        # MinIO counted one GET per object, one per shard, none for local disk.
        gets = {row["loader"]: row["get_requests"] for row in point["rows"]}
        assert gets == {**dict.fromkeys(LOADERS, point["count"]), "shards": 1, "local": 0}, gets
    # Then 24 ImageNet-like JPEGs, each decoded (none unusable), with exactly the bytes the
    # profile drew for them, every key once through every loader.
    jpegs = report["points"][-1]
    split = SyntheticSpec(24, None, labels=1000).split("train")
    drawn = sum(split.size(i) for i in range(24))
    assert (jpegs["profile"], jpegs["count"], jpegs["nbytes"], jpegs["wrong"]) == ("imagenet", 24, drawn, [])
    for row in jpegs["rows"]:
        assert row["samples"] == row["distinct"] == 24 and row["object_bytes"] == drawn, row
        assert row["unusable"] == 0 and set(row["cpu"]) == {"main", "workers", "others", "idle"}
    assert jpegs["decode_ms"] > 0 and jpegs["ceiling_gets_per_s"] > 0
    assert f"{jpegs['label']}, decoded to 224x224 (24 objects; decoding alone" in result.stdout
    assert next(out.glob("bench-sizes-*.png")).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| size | objects | s3iter |" in result.stdout and "crossover" in result.stdout
    assert "shards / local disk (MB/s) at 1 KB" in result.stdout
    # The datasets stay for the next sweep, which uploads nothing again; this one also turns the
    # connector's knobs at 64 KB, each pass checked like the others.
    knobs = ["--loaders", "s3iter,shards", "--ceiling-seconds", "0", "--knobs-at", "64KB"]
    again = run_forked("trainer.bench.sweep", [*args, *knobs], lab_env, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("uploaded 0, skipped") == 6, "objects and shards, at two sizes and of JPEGs"
    report = json.loads(max(out.glob("bench-sizes-*.json")).read_text())
    turned = report["points"][1]["knobs"]
    assert {(row["loader"], row["knob"]) for row in turned} == {
        (loader, knob)
        for loader in ("s3iter", "shards")
        for knob in ("range reader", "5 MB parts", "16 MB parts")
    }
    assert all(row["distinct"] == 40 and row["object_bytes"] == 40 * 65536 for row in turned), turned
    assert report["points"][0]["knobs"] == [] and "connector knobs at 64 KB" in again.stdout
    listed = minio_client(lab_settings).list_objects(lab_settings.bucket, "runs/", recursive=True)
    assert sum(o.object_name.endswith(".png") for o in listed) == 2


def test_a_malformed_size_is_one_line(lab_env, tmp_path):
    result = run_forked("trainer.bench.sweep", ["--sizes", "1KB,huge"], lab_env, tmp_path)
    assert_one_line_error(result, 2, r"--sizes '1KB,huge': 'huge' is not a size like 1024, 16KB or 1MB")
