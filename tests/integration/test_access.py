"""Least privilege: the trainer's keys read the dataset and write runs/checkpoints, nothing more."""

from __future__ import annotations

import io

import pytest
from minio import Minio
from minio.error import S3Error

from labcore.clients import minio_client
from labcore.settings import load_settings
from tests.conftest import assert_one_line_error, run_module

TRAINER = {"AWS_ACCESS_KEY_ID": "lab-trainer-test", "AWS_SECRET_ACCESS_KEY": "trainer-test-secret-1"}


@pytest.fixture
def trainer_env(make_dataset, lab_env, tmp_path):
    env = {**lab_env, **TRAINER}
    directory, _ = make_dataset({"train": 12, "test": 5}, learnable=True)
    result = run_module(
        "seeder", ["--source", str(directory), "--format", "both", "--no-progress"], env, tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "trainer user 'lab-trainer-test'" in result.stdout
    return env


def denied(call) -> None:
    with pytest.raises(S3Error) as info:
        call()
    assert info.value.code == "AccessDenied"


def test_trainer_keys_are_confined(trainer_env):
    admin = minio_client(load_settings(environ=trainer_env))
    trainer: Minio = minio_client(load_settings(environ=trainer_env), convention="s3")
    bucket = trainer_env["BUCKET"]
    sample = next(trainer.list_objects(bucket, prefix="mnist/train/", recursive=True)).object_name
    assert trainer.get_object(bucket, sample).read().startswith(b"\x89PNG")
    assert trainer.get_object(bucket, "mnist-shards/manifest.json").read().startswith(b"{")
    for key in ("runs/t/metrics.json", "checkpoints/t/step-1.pt"):
        trainer.put_object(bucket, key, io.BytesIO(b"{}"), 2)
        assert trainer.get_object(bucket, key).read() == b"{}"

    denied(lambda: trainer.put_object(bucket, sample, io.BytesIO(b"x"), 1))
    denied(lambda: trainer.remove_object(bucket, sample))
    denied(lambda: trainer.put_object(bucket, "elsewhere/x", io.BytesIO(b"x"), 1))
    denied(lambda: list(trainer.list_objects(bucket, prefix="", recursive=True)))

    other = bucket + "-other"
    admin.make_bucket(other)
    admin.put_object(other, "mnist/train/0/00000.png", io.BytesIO(b"secret"), 6)
    denied(lambda: trainer.get_object(other, "mnist/train/0/00000.png"))
    denied(lambda: list(trainer.list_objects(other, prefix="mnist/", recursive=True)))
    assert admin.get_object(bucket, sample).read().startswith(b"\x89PNG"), "the sample is untouched"


def test_trainer_runs_with_its_own_keys(trainer_env, tmp_path):
    result = run_module(
        "trainer",
        ["--epochs", "1", "--no-progress", "--run-id", "confined"],
        trainer_env,
        tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train: 12 of 12 objects, 0 duplicates" in result.stdout
    result = run_module(
        "trainer",
        ["--loader", "shards", "--epochs", "1", "--no-progress"],
        trainer_env,
        tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def seed_as(env, directory, tmp_path, **overrides):
    result = run_module(
        "seeder", ["--source", str(directory), "--no-progress"], {**env, **overrides}, tmp_path
    )
    return result


def test_neighbours_of_the_dataset_are_not_listed_or_read(trainer_env):
    admin = minio_client(load_settings(environ=trainer_env))
    trainer: Minio = minio_client(load_settings(environ=trainer_env), convention="s3")
    bucket = trainer_env["BUCKET"]
    for key in ("mnist-private/secret.txt", "private/secret.txt"):
        admin.put_object(bucket, key, io.BytesIO(b"secret"), 6)
        denied(lambda key=key: trainer.get_object(bucket, key))
        top = key.split("/")[0]
        denied(lambda top=top: list(trainer.list_objects(bucket, prefix=top, recursive=True)))
        denied(lambda top=top: list(trainer.list_objects(bucket, prefix=top + "/", recursive=True)))
    # "mnist" without its slash would list mnist-private/ too: refused as a whole.
    denied(lambda: list(trainer.list_objects(bucket, prefix="mnist", recursive=True)))


def test_a_policy_attached_by_hand_is_removed_by_the_next_seed(trainer_env, make_dataset, tmp_path):
    from labcore.useradmin.minio import MinioUserAdmin

    settings = load_settings(environ=trainer_env)
    MinioUserAdmin(settings).admin.attach_policy(["readwrite"], user=TRAINER["AWS_ACCESS_KEY_ID"])
    trainer: Minio = minio_client(settings, convention="s3")
    bucket = trainer_env["BUCKET"]
    sample = next(trainer.list_objects(bucket, prefix="mnist/train/", recursive=True)).object_name
    trainer.put_object(bucket, "elsewhere/proof", io.BytesIO(b"x"), 1)  # readwrite is in force
    directory, _ = make_dataset({"train": 12, "test": 5}, learnable=True)
    assert seed_as(trainer_env, directory, tmp_path).returncode == 0
    denied(lambda: trainer.remove_object(bucket, sample))
    denied(lambda: trainer.put_object(bucket, "elsewhere/x", io.BytesIO(b"x"), 1))


def test_two_datasets_in_one_bucket_keep_their_grants(trainer_env, make_dataset, tmp_path):
    directory, _ = make_dataset({"train": 6, "test": 3})
    assert seed_as(trainer_env, directory, tmp_path, DATA_PREFIX="fashion").returncode == 0
    trainer: Minio = minio_client(load_settings(environ=trainer_env), convention="s3")
    bucket = trainer_env["BUCKET"]
    for prefix in ("mnist/train/", "fashion/train/"):
        key = next(trainer.list_objects(bucket, prefix=prefix, recursive=True)).object_name
        assert trainer.get_object(bucket, key).read().startswith(b"\x89PNG"), prefix


@pytest.mark.parametrize(
    "overrides,pattern",
    [
        ({"DATA_PREFIX": "mnist/inner"}, r"DATA_PREFIX='mnist/inner' overlaps the dataset at mnist/"),
        ({"DATA_PREFIX": "mnist-shards"}, r"DATA_PREFIX='mnist-shards' overlaps the dataset at mnist/"),
        (
            {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE"},
            r"AWS_ACCESS_KEY_ID=AKIA\.\.\. looks like a real AWS key id.*LAB_ALLOW_AWS_KEY_IDS=true",
        ),
    ],
)
def test_prefixes_and_key_ids_the_lab_refuses(trainer_env, make_dataset, tmp_path, overrides, pattern):
    directory, _ = make_dataset({"train": 6, "test": 3})
    assert_one_line_error(seed_as(trainer_env, directory, tmp_path, **overrides), 2, pattern)
