"""`python -m trainer` against a real MinIO server: a short run learns; mistakes are one line."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image

from labcore.clients import minio_client
from labcore.settings import load_settings
from tests.conftest import assert_one_line_error, run_module
from tests.forked import run_forked


def test_short_run_learns_and_saves_its_outputs(seed_bucket, lab_env, tmp_path):
    client = seed_bucket({"train": 401, "test": 61}, learnable=True, env=lab_env).client
    args = ["--epochs", "3", "--workers", "2", "--batch-size", "16", "--run-id", "short", "--no-progress"]
    result = run_forked("trainer", args, lab_env, tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    losses = [float(x) for x in re.findall(r"epoch \d/3: loss ([0-9.]+)", result.stdout)]
    assert len(losses) == 3 and losses[2] < losses[0], result.stdout
    assert (
        result.stdout.count("train: 401 of 401 objects, 0 duplicates; test: 61 of 61 objects, 0 duplicates")
        == 3
    )
    assert re.search(r"samples per worker \{0: \d+, 1: \d+\}", result.stdout)
    # The first batch's wait (worker start-up, first reads) is reported apart from waiting for data.
    assert (
        len(
            re.findall(
                r"s to the first batch, [0-9.]+ s waiting for data, [0-9.]+ s computing", result.stdout
            )
        )
        == 3
    )

    metrics = json.loads(client.get_object(lab_env["BUCKET"], "runs/short/metrics.json").read())
    assert metrics["train_objects"] == 401 and len(metrics["per_epoch"]) == 3
    assert metrics["final_test_accuracy"] > 0.5  # ten classes: chance is 0.1
    assert all(e["startup_seconds"] > 0 and e["data_seconds"] >= 0 for e in metrics["per_epoch"])
    assert client.stat_object(lab_env["BUCKET"], "runs/short/model.pt").size > 100_000

    # The report image: one series point per trained step, and a PNG that decodes.
    steps = -(-401 // 16)
    assert [len(e["series"]) for e in metrics["per_epoch"]] == [steps] * 3
    assert [p[0] for p in metrics["per_epoch"][0]["series"]] == list(range(1, steps + 1))
    fetched = run_module("trainer.run_report", ["--out", str(tmp_path / "results")], lab_env, tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    with Image.open(tmp_path / "results" / "short-report.png") as image:
        assert image.format == "PNG" and image.size == (1200, 750)
        assert len(set(image.convert("L").get_flattened_data())) > 20, "a picture, not a blank canvas"
    assert json.loads((tmp_path / "results" / "short-metrics.json").read_text()) == metrics


@pytest.mark.parametrize("loader", ["map", "manual"])
def test_other_loaders_run_the_same_loop(seed_bucket, lab_env, tmp_path, loader):
    seed_bucket({"train": 53, "test": 17}, learnable=True, env=lab_env)
    args = ["--loader", loader, "--epochs", "1", "--workers", "3", "--no-progress"]
    result = run_forked("trainer", args, lab_env, tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train: 53 of 53 objects, 0 duplicates; test: 17 of 17 objects, 0 duplicates" in result.stdout


def test_empty_prefix_names_the_prefix(lab_env, tmp_path):
    client = minio_client(load_settings(environ=lab_env))
    client.make_bucket(lab_env["BUCKET"])
    result = run_forked("trainer", [], lab_env, tmp_path)
    assert_one_line_error(
        result, 1, rf"no objects under s3://{lab_env['BUCKET']}/mnist/train/: seed the bucket first"
    )


def test_missing_bucket(lab_env, tmp_path):
    result = run_forked("trainer", [], lab_env, tmp_path)
    assert_one_line_error(result, 2, rf"bucket '{lab_env['BUCKET']}' does not exist .*check BUCKET")


def test_unusable_objects_are_counted_and_skipped_or_strict(seed_bucket, lab_env, tmp_path):
    client = seed_bucket({"train": 20, "test": 5}, learnable=True, env=lab_env).client
    bucket = lab_env["BUCKET"]
    bad = {
        "mnist/train/3/90000.png": b"\x89PNG\r\n\x1a\n but then garbage",
        "mnist/train/4/90001.png": b"",
        "mnist/train/5/90002.png": b"just some text, not an image",
        "mnist/train/notes.txt": b"hello",
    }
    for key, body in bad.items():
        client.put_object(bucket, key, io.BytesIO(body), len(body))
    args = ["--epochs", "1", "--workers", "2", "--no-progress"]
    result = run_forked("trainer", args, lab_env, tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "train: 24 of 24 objects, 0 duplicates, 4 skipped as unusable" in result.stdout
    assert (
        "1 objects under" in result.stderr and "will be skipped, e.g. mnist/train/notes.txt" in result.stderr
    )

    strict = run_forked("trainer", [*args, "--strict"], lab_env, tmp_path)
    assert_one_line_error(
        strict, 1, r"outside the <label>/<index>\.png layout, e\.g\. mnist/train/notes\.txt.*--strict"
    )
    client.remove_object(bucket, "mnist/train/notes.txt")
    strict = run_forked("trainer", [*args, "--strict"], lab_env, tmp_path, timeout=600)
    assert_one_line_error(
        strict, 1, r"mnist/train/[345]/9000[012]\.png: (empty object|not a readable PNG).*--strict"
    )


@pytest.mark.parametrize(
    "override,code,pattern",
    [
        (
            {"AWS_SECRET_ACCESS_KEY": "wrong-secret"},
            2,
            r"rejected AWS_SECRET_ACCESS_KEY for AWS_ACCESS_KEY_ID='lab-test-admin'",
        ),
        ({"AWS_ACCESS_KEY_ID": "nobody"}, 2, r"does not know AWS_ACCESS_KEY_ID='nobody'"),
        ({"AWS_REGION": "eu-west-1"}, 2, r"refused the region.*AWS_REGION"),
    ],
)
def test_wrong_credentials_or_region(lab_env, tmp_path, override, code, pattern):
    result = run_forked("trainer", [], {**lab_env, **override}, tmp_path)
    assert_one_line_error(result, code, pattern)
