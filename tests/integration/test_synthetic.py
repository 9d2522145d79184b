"""Synthetic datasets of a chosen object size (issue 23), seeded into a real MinIO server."""

from __future__ import annotations

import json

from labcore.clients import minio_client, opened
from labcore.layout import parse_key
from labcore.shards import iter_verified, parse_member
from labcore.synthetic import SyntheticSpec, SyntheticSplit
from tests.conftest import assert_one_line_error, run_module
from tests.forked import run_forked

SOURCE = "synthetic:40:16KB:labels=12:seed=5"
SPEC = SyntheticSpec(40, 16 << 10, labels=12, seed=5)


def read(client, bucket: str, key: str) -> tuple[bytes, str]:
    with opened(client, bucket, key) as response:
        return response.read(), response.headers["Content-Type"]


def test_every_object_is_its_size_its_key_once_and_a_rerun_uploads_nothing(lab_env, lab_settings, tmp_path):
    # Shards of at most 16 samples or 100 KB: 16 KB objects (16.5 KB in a tar) make shards of 6.
    args = [
        "--source",
        SOURCE,
        "--format",
        "both",
        "--shard-size",
        "16",
        "--shard-bytes",
        "100KB",
        "--no-progress",
    ]
    first = run_module("seeder", args, lab_env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "synthetic 40 x 16 KB (12 labels, seed 5): seeded" in first.stdout
    assert "(train 40, test 7): uploaded 47, skipped 0" in first.stdout
    client, bucket = minio_client(lab_settings), lab_settings.bucket

    for split in ("train", "test"):
        expected = SyntheticSplit(SPEC, split)
        listed = {
            o.object_name: o.size for o in client.list_objects(bucket, f"mnist/{split}/", recursive=True)
        }
        parsed = {key: parse_key(key) for key in listed}
        assert sorted(p.index for p in parsed.values()) == list(range(len(expected)))
        assert set(listed.values()) == {16 << 10}
        for key, parts in parsed.items():
            body, content_type = read(client, bucket, key)
            assert (parts.extension, content_type) == ("bin", "application/octet-stream")
            assert (parts.label, body) == expected.encoded(parts.index), key
    recorded = json.loads(read(client, bucket, "mnist/checksums.json")[0])["objects"]
    assert len(recorded) == 47

    # Shards: members named <index>.<label>.bin, the same bytes as the objects.
    manifest = json.loads(read(client, bucket, "mnist-shards/manifest.json")[0])
    assert manifest["member"] == "<index>.<label>.bin"
    shards = manifest["splits"]["train"]["shards"]
    assert [s["samples"] for s in shards] == [6, 6, 6, 6, 6, 6, 4]
    assert "(train 40 in 7 shards, test 7 in 2 shards)" in first.stdout
    train, members = SyntheticSplit(SPEC, "train"), []
    for shard in shards:
        with opened(client, bucket, shard["key"]) as response:
            members += [
                (parse_member(key), body)
                for key, body in iter_verified(response, shard["key"], shard["sha256"])
            ]
    assert [(index, (label, body)) for (index, label), body in members] == [
        (i, train.encoded(i)) for i in range(40)
    ]

    again = run_module("seeder", args, lab_env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "uploaded 0, skipped 47 already there" in again.stdout


def test_a_synthetic_seed_over_another_dataset_needs_prune(seed_bucket, lab_env, tmp_path):
    seed_bucket({"train": 6, "test": 2}, env=lab_env)
    result = run_module("seeder", ["--source", SOURCE, "--no-progress"], lab_env, tmp_path)
    assert_one_line_error(result, 1, r"already holds another dataset .* add --prune")


def test_the_trainer_refuses_a_synthetic_dataset_in_one_line(lab_env, tmp_path):
    seeded = run_module(
        "seeder", ["--source", "synthetic:12:1KB", "--format", "both", "--no-progress"], lab_env, tmp_path
    )
    assert seeded.returncode == 0, seeded.stderr
    bucket = lab_env["BUCKET"]
    for loader, where in (("s3iter", "mnist"), ("shards", "mnist-shards")):
        result = run_forked(
            "trainer", ["--epochs", "1", "--loader", loader, "--no-progress"], lab_env, tmp_path
        )
        assert_one_line_error(
            result, 1, rf"s3://{bucket}/{where}/ holds \.bin samples, not the 28x28 PNGs .*make bench-sizes"
        )


def test_a_malformed_source_is_one_line_before_any_upload(lab_env, lab_settings, tmp_path):
    result = run_module("seeder", ["--source", "synthetic:40:16 furlongs"], lab_env, tmp_path)
    assert_one_line_error(result, 2, r"SEED_SOURCE='synthetic:40:16 furlongs': '16 furlongs' is not a size")
    assert not minio_client(lab_settings).bucket_exists(lab_settings.bucket)


def test_imagenet_like_jpegs_seed_at_their_drawn_sizes_and_a_rerun_uploads_nothing(
    lab_env, lab_settings, tmp_path
):
    # The docs' command (docs/seeder.md), at 12 objects in place of 4,096.
    args = ["--source", "synthetic:12:imagenet", "--prefix", "imagenet-like", "--no-progress"]
    first = run_module("seeder", args, lab_env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert (
        "synthetic 12 x ImageNet-like JPEGs (median 96 KB, sigma 0.5) (1000 labels, seed 0): seeded"
        in first.stdout
    )
    assert "(train 12, test 2): uploaded 14, skipped 0" in first.stdout
    client, bucket = minio_client(lab_settings), lab_settings.bucket
    spec = SyntheticSpec(12, None, labels=1000)
    for split in ("train", "test"):
        expected = spec.split(split)
        listed = {
            o.object_name: o.size
            for o in client.list_objects(bucket, f"imagenet-like/{split}/", recursive=True)
        }
        assert sorted(parse_key(key).index for key in listed) == list(range(len(expected)))
        for key, size in listed.items():
            parts = parse_key(key)
            body, content_type = read(client, bucket, key)
            assert (parts.extension, content_type) == ("jpg", "image/jpeg")
            assert size == len(body) == expected.size(parts.index), key
            assert (parts.label, body) == expected.encoded(parts.index), key
    again = run_module("seeder", args, lab_env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "uploaded 0, skipped 14 already there" in again.stdout
    too_many = run_module(
        "seeder", [*args[:1], "synthetic:12:imagenet:labels=2000", *args[2:]], lab_env, tmp_path
    )
    assert_one_line_error(
        too_many,
        2,
        r"^python -m seeder: error: SEED_SOURCE='synthetic:12:imagenet:labels=2000': labels must be 1 to 1000; "
        r"the form is synthetic:<count>:<size\|imagenet>\[:labels=N\]\[:seed=S\]",
    )
