"""``python -m seeder.bench`` against a real MinIO, with the real mc from MINIO_IMAGE."""

from __future__ import annotations

import io
import json
import os

from labcore.clients import minio_client
from labcore.settings import read_environment
from tests.conftest import run_module

METHODS = {"seeder put": "put", "seeder snowball": "snowball", "mc mirror": "mc"}  # -> sub-prefix


def bench_env(lab_env: dict[str, str], directory, **extra: str) -> dict[str, str]:
    """The server's settings plus what `docker run` needs from this environment."""
    docker = {k: os.environ[k] for k in ("HOME", "DOCKER_HOST", "DOCKER_CONFIG") if k in os.environ}
    image = read_environment().get("MINIO_IMAGE", "")
    return {**docker, **lab_env, "SEED_SOURCE": str(directory), "MINIO_IMAGE": image, **extra}


def test_bench_times_three_methods_and_leaves_the_bucket_as_it_was(
    make_dataset, lab_env, lab_settings, tmp_path
):
    directory, _ = make_dataset({"train": 230, "test": 3})
    client = minio_client(lab_settings)
    bucket = lab_settings.bucket
    client.make_bucket(bucket)
    client.put_object(bucket, "mnist/keep.txt", io.BytesIO(b"mine"), 4)

    out = tmp_path / "results"
    env = bench_env(lab_env, directory, SEED_WORKERS="4")
    result = run_module("seeder.bench", ["--limit", "200", "--out", str(out)], env, tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr

    (path,) = out.glob("seed-bench-*.json")
    record = json.loads(path.read_text())
    assert (record["samples"], record["workers"], record["split"]) == (200, 4, "train")
    methods = {m["method"]: m for m in record["methods"]}
    assert list(methods) == list(METHODS)
    for name, method in methods.items():
        # Each method's prefix held exactly the 200 objects with the PNGs' bytes, checked by listing.
        assert method["objects"] == 200, f"{name}: {method['objects']} objects, {method.get('unmeasured')}"
        assert method["seconds"] > 0 and method["objects_per_s"] > 0, (name, method)
        assert method["prefix"] == f"bench-seed-{record['stamp']}/{METHODS[name]}"
    assert methods["mc mirror"]["ratio_vs_mc"] == 1.0
    assert methods["mc mirror"]["wall_seconds"] >= methods["mc mirror"]["seconds"]
    assert [(t["method"], type(t["met"])) for t in record["targets"]] == [
        ("seeder put", bool),
        ("seeder snowball", bool),
    ]
    # The table and the target lines, as in the JSON.
    assert "| method | objects | seconds | objects/s | vs mc mirror |" in result.stdout
    for target in record["targets"]:
        verdict = "met" if target["met"] else "MISSED"
        assert (
            f"target {target['method']} >= 2x mc mirror: {target['ratio']:.2f}x, {verdict}" in result.stdout
        )

    # Only what was there before is left.
    assert [o.object_name for o in client.list_objects(bucket, recursive=True)] == ["mnist/keep.txt"]


def test_without_the_mc_image_the_rest_is_still_measured(make_dataset, lab_env, lab_settings, tmp_path):
    directory, _ = make_dataset({"train": 60, "test": 3})
    out = tmp_path / "results"
    env = bench_env(lab_env, directory, MINIO_IMAGE="minio-torch-lab/minio:no-such-tag", SEED_WORKERS="2")
    result = run_module("seeder.bench", ["--limit", "50", "--out", str(out)], env, tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr

    lines = result.stdout.splitlines()
    (why,) = [line for line in lines if line.startswith("mc mirror not measured: ")]
    assert "image minio-torch-lab/minio:no-such-tag is not available" in why
    assert "target seeder put >= 2x mc mirror: not measured" in lines
    (path,) = out.glob("seed-bench-*.json")
    methods = {m["method"]: m for m in json.loads(path.read_text())["methods"]}
    assert methods["seeder put"]["objects"] == methods["seeder snowball"]["objects"] == 50
    assert methods["mc mirror"]["seconds"] is None and "not available" in methods["mc mirror"]["unmeasured"]
    # The bench created the bucket, so it removed it again.
    assert not minio_client(lab_settings).bucket_exists(lab_settings.bucket)
