"""One dataset per prefix: a second, different source is refused by the seeder and by the trainer."""

from __future__ import annotations

import io
import json

from labcore.clients import minio_client
from labcore.settings import load_settings
from labcore.shards import manifest_key
from tests.conftest import assert_one_line_error, run_module
from tests.forked import run_forked


def seed_cli(env, tmp_path, directory, *flags):
    return run_module("seeder", ["--source", str(directory), "--no-progress", *flags], env, tmp_path)


def test_seeder_refuses_a_second_dataset_in_a_prefix_unless_pruned(make_dataset, lab_env, tmp_path):
    first, _ = make_dataset({"train": 40, "test": 10}, seed=1)
    other, samples = make_dataset({"train": 40, "test": 10}, seed=2)
    assert seed_cli(lab_env, tmp_path, first).returncode == 0
    refused = seed_cli(lab_env, tmp_path, other)
    assert_one_line_error(
        refused, 1, r"s3://.*/mnist/ already holds another dataset \(\d+ samples .*add --prune"
    )
    replaced = seed_cli(lab_env, tmp_path, other, "--prune")
    assert replaced.returncode == 0, replaced.stderr
    client = minio_client(load_settings(environ=lab_env))
    keys = {o.object_name for o in client.list_objects(lab_env["BUCKET"], "mnist/train/", recursive=True)}
    assert keys == {f"mnist/train/{label}/{i:05d}.png" for i, (label, _) in enumerate(samples["train"])}


def test_trainer_refuses_two_datasets_before_training(seed_bucket, lab_env, tmp_path):
    seeded = seed_bucket({"train": 40, "test": 10}, env=lab_env)
    client = seeded.client
    label = seeded.samples["train"][5][0]
    stranger = f"mnist/train/{(label + 1) % 10}/00005.png"
    body = client.get_object(lab_env["BUCKET"], f"mnist/train/{label}/00005.png").read()
    client.put_object(lab_env["BUCKET"], stranger, io.BytesIO(body), len(body))
    result = run_forked("trainer", ["--epochs", "1", "--no-progress"], lab_env, tmp_path)
    assert_one_line_error(result, 1, r"mnist/train/ holds two datasets: sample 5 is both .*--prune")
    assert "epoch" not in result.stdout


def test_trainer_refuses_a_manifest_that_miscounts(seed_bucket, lab_env, tmp_path):
    client = seed_bucket({"train": 30, "test": 10}, objects=False, shard_size=10, env=lab_env).client
    key = manifest_key("mnist-shards")
    manifest = json.loads(client.get_object(lab_env["BUCKET"], key).read())
    manifest["splits"]["train"]["samples"] = 35
    body = json.dumps(manifest).encode()
    client.put_object(lab_env["BUCKET"], key, io.BytesIO(body), len(body))
    result = run_forked("trainer", ["--loader", "shards", "--epochs", "1"], lab_env, tmp_path)
    assert_one_line_error(result, 1, r"counts 35 train samples but its shards hold 30: re-seed")
