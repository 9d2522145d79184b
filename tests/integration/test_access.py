"""Least privilege: the trainer's keys read the dataset and write runs/checkpoints, nothing more."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from minio import Minio
from minio.error import S3Error

from labcore.clients import minio_client
from labcore.policy import trainer_policy, trainer_policy_name
from labcore.settings import load_settings
from tests.conftest import assert_one_line_error, run_module
from tests.forked import run_forked

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
    result = run_forked(
        "trainer",
        ["--epochs", "1", "--no-progress", "--run-id", "confined"],
        trainer_env,
        tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train: 12 of 12 objects, 0 duplicates" in result.stdout
    result = run_forked(
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


def test_a_policy_attached_by_hand_is_removed_when_the_account_is_adopted(
    trainer_env, make_dataset, tmp_path
):
    from labcore.useradmin.minio import MinioUserAdmin

    settings = load_settings(environ=trainer_env)
    MinioUserAdmin(settings).admin.attach_policy(["readwrite"], user=TRAINER["AWS_ACCESS_KEY_ID"])
    trainer: Minio = minio_client(settings, convention="s3")
    bucket = trainer_env["BUCKET"]
    sample = next(trainer.list_objects(bucket, prefix="mnist/train/", recursive=True)).object_name
    trainer.put_object(bucket, "elsewhere/proof", io.BytesIO(b"x"), 1)  # readwrite is in force
    directory, _ = make_dataset({"train": 12, "test": 5}, learnable=True)
    # The account now holds more than the lab gave it: no longer the lab's until adopted.
    assert_one_line_error(seed_as(trainer_env, directory, tmp_path), 2, r"\(policy readwrite\)")
    adopted = seed_as(trainer_env, directory, tmp_path, LAB_ADOPT_TRAINER_ACCOUNT="true")
    assert adopted.returncode == 0, adopted.stderr
    denied(lambda: trainer.remove_object(bucket, sample))
    denied(lambda: trainer.put_object(bucket, "elsewhere/x", io.BytesIO(b"x"), 1))


def user_info(settings, user: str) -> dict:
    from labcore.useradmin.minio import MinioUserAdmin

    return json.loads(MinioUserAdmin(settings).admin.user_info(user))


@pytest.mark.parametrize("how", ["consoleAdmin attached", "readwrite through a group"])
def test_an_account_that_is_not_the_labs_is_refused_untouched_or_adopted_whole(
    how, lab_env, make_dataset, tmp_path
):
    """An operator's account named by AWS_ACCESS_KEY_ID: refused in one line, its secret and rights
    as they were; with LAB_ADOPT_TRAINER_ACCOUNT=true the lab's, holding the lab's policy alone."""
    from labcore.useradmin.minio import MinioUserAdmin

    settings = load_settings(environ=lab_env)
    admin = MinioUserAdmin(settings).admin
    tag = uuid.uuid4().hex[:8]
    user, secret = f"ops{tag}", "operator-secret-1"
    admin.user_add(user, secret)
    if how == "consoleAdmin attached":
        admin.attach_policy(["consoleAdmin"], user=user)
        expected = {"policyName": "consoleAdmin"}
        holds = r"\(policy consoleAdmin\)"
    else:
        group = f"rw{tag}"
        admin.group_add(group, [user])  # the SDK's hint says str; MinIO takes a JSON list
        admin.attach_policy(["readwrite"], group=group)
        expected = {"memberOf": [group]}
        holds = rf"\(group {group}\)"
    bucket = lab_env["BUCKET"]
    minio_client(settings).make_bucket(bucket)
    operator = Minio(lab_env["MINIO_ENDPOINT"], user, secret, secure=False, region="us-east-1")
    operator.put_object(bucket, "elsewhere/by-the-operator", io.BytesIO(b"x"), 1)  # what it may do
    before = user_info(settings, user)
    assert {k: before.get(k) for k in expected} == expected

    directory, _ = make_dataset({"train": 6, "test": 3})
    keys = {"AWS_ACCESS_KEY_ID": user, "AWS_SECRET_ACCESS_KEY": "trainer-secret-12"}
    refused = seed_as(lab_env, directory, tmp_path, **keys)
    assert_one_line_error(
        refused,
        2,
        rf"AWS_ACCESS_KEY_ID='{user}' names an existing MinIO account that is not the lab's {holds}: "
        r".*choose another trainer key id in \.env, or set LAB_ADOPT_TRAINER_ACCOUNT=true",
    )
    after = user_info(settings, user)
    assert (after.get("policyName"), after.get("memberOf")) == (
        before.get("policyName"),
        before.get("memberOf"),
    )
    # The same secret, the same rights.
    operator.put_object(bucket, "elsewhere/still-the-operator", io.BytesIO(b"x"), 1)

    adopted = seed_as(lab_env, directory, tmp_path, **keys, LAB_ADOPT_TRAINER_ACCOUNT="true")
    assert adopted.returncode == 0, adopted.stderr
    name = trainer_policy_name(settings)
    info = user_info(settings, user)
    assert (info.get("policyName"), info.get("memberOf") or []) == (name, [])
    trainer = Minio(
        lab_env["MINIO_ENDPOINT"], user, keys["AWS_SECRET_ACCESS_KEY"], secure=False, region="us-east-1"
    )
    denied(lambda: trainer.put_object(bucket, "elsewhere/x", io.BytesIO(b"x"), 1))
    denied(lambda: trainer.make_bucket(f"{bucket}-new"))
    sample = next(trainer.list_objects(bucket, prefix="mnist/train/", recursive=True)).object_name
    assert trainer.get_object(bucket, sample).read().startswith(b"\x89PNG")


def test_an_account_made_by_an_earlier_version_is_the_labs_and_gets_todays_policy_name(
    lab_env, make_dataset, tmp_path
):
    """Before the hash, the policy of mnist in a bucket was lab-trainer-<bucket>-mnist."""
    from labcore.useradmin.minio import MinioUserAdmin

    user = f"old{uuid.uuid4().hex[:8]}"
    env = {**lab_env, "AWS_ACCESS_KEY_ID": user, "AWS_SECRET_ACCESS_KEY": "trainer-secret-12"}
    settings = load_settings(environ=env)
    admin = MinioUserAdmin(settings).admin
    old = f"lab-trainer-{lab_env['BUCKET']}-mnist"
    admin.policy_add(old, policy=trainer_policy(settings))
    admin.user_add(user, "the-old-trainer-secret")
    admin.attach_policy([old], user=user)

    directory, _ = make_dataset({"train": 6, "test": 3})
    result = seed_as(env, directory, tmp_path)
    assert result.returncode == 0, result.stderr
    # Accepted as the lab's, and moved to today's name: the old one, shared by a/b and a.b, is gone.
    assert user_info(settings, user)["policyName"] == trainer_policy_name(settings) != old


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
