"""The lab itself on each store: seeding, every loader for one epoch, checkpoint and resume, and
least privilege, run through the same commands a user types (``python -m seeder``, ``python -m trainer``).
"""

from __future__ import annotations

import io
import json
import re
import uuid
from pathlib import Path

import pytest
from minio import Minio
from minio.error import S3Error

from labcore.settings import load_settings
from tests.conftest import assert_one_line_error, offline_source, run_module
from tests.forked import run_forked

LOADERS = ("s3iter", "s3prefix", "map", "manual", "shards")
TRAINER_KEY = "labconftrainer"  # letters only: every store takes it


@pytest.fixture(scope="session")
def source() -> Path:
    return offline_source()


def confinement(store, env: dict[str, str]) -> str:
    """How far the lab confines the trainer on this store ("prefix", "bucket" or "": admin keys)."""
    return store.adapter.confines(env.get("STORE_ADMIN_TOKEN", ""))


@pytest.fixture(scope="session")
def seeded(store, source, samples, tmp_path_factory) -> dict[str, str]:
    """A bucket on the store seeded with objects and shards by ``python -m seeder``.

    Where the store lets the lab make a trainer user, the seeder makes one and every trainer run
    here uses its keys, as ``make train`` does; elsewhere they are the admin's.
    """
    cwd = tmp_path_factory.mktemp(f"seeded-{store.name}")
    env = store.env(f"lab-{store.name}")
    if confinement(store, env):
        env.update(AWS_ACCESS_KEY_ID=TRAINER_KEY, AWS_SECRET_ACCESS_KEY="lab-conformance-trainer-secret")
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
    if confinement(store, env):
        assert re.search(rf"trainer (user|key) '{TRAINER_KEY}'", result.stdout), result.stdout[-1500:]
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
    result = run_forked("trainer", [*args, "--run-id", f"c-{loader}"], env, tmp_path, timeout=600)
    assert result.returncode == 0, f"{loader}: {result.stderr.strip().splitlines()[-1:]}"
    assert re.search(rf"train: {samples} of {samples} (objects|samples), 0 duplicates", result.stdout), (
        loader,
        result.stdout[-1500:],
    )


@pytest.mark.capability("checkpoint and resume")
def test_checkpoint_then_resume(store, seeded, samples, tmp_path):
    env = dict(seeded)
    common = ["--workers", "1", "--no-progress", "--run-id", "c-resume"]
    first = run_forked(
        "trainer", [*common, "--epochs", "1", "--checkpoint-every", "4", "--overwrite"], env, tmp_path
    )
    assert first.returncode == 0, first.stderr[-1500:]
    # One more epoch on top of the checkpoint the first run ended with.
    resumed = run_forked("trainer", [*common, "--epochs", "2", "--resume"], env, tmp_path, timeout=600)
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
def test_trainer_keys_are_confined_on_each_store(store, seeded, bucket):
    """The trainer's keys may read the dataset and write checkpoints/ and runs/, nothing else.

    The checks run on every store. Where the store grants per bucket only (Garage), the trainer's
    own key must at least stay out of other buckets; where the lab cannot make a trainer user, the
    trainer holds the admin keys. Either way what the keys could do that the trainer should not
    is a known gap, reported in the matrix, never skipped.
    """
    from labcore.clients import minio_client

    env = dict(seeded)
    level = confinement(store, env)
    trainer = minio_client(load_settings(environ=env), convention="s3")
    if level:  # the seeder made the user, and nothing swapped its keys for the admin's
        assert load_settings(environ=env).aws_access_key_id == TRAINER_KEY
    data = env["BUCKET"]
    sample = next(trainer.list_objects(data, prefix="mnist/train/", recursive=True)).object_name
    trainer.put_object(data, "checkpoints/c/probe", io.BytesIO(b"{}"), 2)
    allowed = []
    for what, call in (
        ("overwrite a sample", lambda: trainer.put_object(data, sample, io.BytesIO(trainer.get_object(data, sample).read()), -1, part_size=5 * 1024 * 1024)),
        ("write outside checkpoints/ and runs/", lambda: trainer.put_object(data, "elsewhere/x", io.BytesIO(b"x"), 1)),
        ("list the whole bucket", lambda: list(trainer.list_objects(data, prefix="", recursive=True))),
        ("list another bucket", lambda: list(trainer.list_objects(bucket, prefix="", recursive=True))),
        ("create a bucket", lambda: trainer.make_bucket(f"{bucket}-new")),
    ):  # fmt: skip
        try:
            call()
            allowed.append(what)
        except S3Error as exc:
            # A bucket the key may not see is one it cannot name (Garage): NoSuchBucket.
            assert exc.code in ("AccessDenied", "NoSuchBucket"), (what, exc.code)
    title = store.adapter.title
    if level == "prefix":
        assert not allowed, f"the trainer's keys could {', '.join(allowed)}"
    elif level == "bucket":
        assert "list another bucket" not in allowed and "create a bucket" not in allowed, allowed
        assert allowed, "a key with read and write on the bucket was refused inside it"
        pytest.xfail(
            f"partial: {title} grants per bucket and has no policies: the trainer's own key "
            f"stays in its bucket but could {', '.join(allowed)}"
        )
    else:
        assert allowed, "the admin keys were refused: the store's admin is not what the lab thinks"
        pytest.xfail(
            f"least privilege unavailable on {title} (no user/policy admin in the lab's adapter): "
            f"the trainer holds the admin keys and could {', '.join(allowed)}"
        )


@pytest.mark.only_stores("versitygw")
def test_no_s3_call_reaches_versitygws_accounts_file(store, seeded):
    """VersityGW keeps its accounts, secrets included, in /data/.vgw-iam: inside the directory it
    serves (the other stores keep theirs elsewhere). No S3 request with the admin's or the
    trainer's keys may list or read it."""
    from tests.s3probes import HEADER_SIGNED, Target, send

    url = f"http://{store.endpoint}"
    secrets = [seeded["AWS_SECRET_ACCESS_KEY"].encode(), store.secret_key.encode()]
    keys = {
        "admin": Target(url, "us-east-1", store.access_key, store.secret_key),
        "trainer": Target(url, "us-east-1", seeded["AWS_ACCESS_KEY_ID"], seeded["AWS_SECRET_ACCESS_KEY"]),
    }
    data = seeded["BUCKET"]
    # The control: the same kind of request reads an object the keys may read.
    sample = next(store.client().list_objects(data, prefix="mnist/train/", recursive=True)).object_name
    for who, target in keys.items():
        answer = send(target, "GET", data, sample, body=b"", headers={}, auth=HEADER_SIGNED)
        assert answer.status == 200 and answer.body.startswith(b"\x89PNG"), (who, str(answer))
    reached = []
    for who, target in keys.items():
        for bucket, key, query in (
            (".vgw-iam", "", {}),  # ListObjects of the folder as a bucket
            (".vgw-iam", "", {"list-type": "2"}),
            (".vgw-iam", "users.json", {}),
            (data, "../.vgw-iam/users.json", {}),  # out of a bucket the keys may read
            (data, "mnist/../../.vgw-iam/users.json", {}),
        ):
            answer = send(target, "GET", bucket, key, body=b"", headers={}, auth=HEADER_SIGNED, query=query)
            if answer.status < 300 or any(secret in answer.body for secret in secrets):
                reached.append(f"{who} GET /{bucket}/{key}: {answer}")
        names = (
            [
                b.name
                for b in Minio(
                    store.endpoint, target.access_key, target.secret_key, secure=False
                ).list_buckets()
            ]
            if who == "admin"
            else []
        )
        if ".vgw-iam" in names:
            reached.append(f"{who} ListBuckets shows .vgw-iam")
    assert not reached, reached


def make_operator(store, settings, user: str, secret: str, bucket: str) -> str:
    """An account of the store's own kind that is not the lab's, allowed to write anywhere in
    ``bucket``; what the seeder should find it holds."""
    from labcore.useradmin import user_admin

    admin = user_admin(settings)
    if store.name == "minio":
        admin.admin.user_add(user, secret)
        admin.admin.attach_policy(["consoleAdmin"], user=user)
        return "policy consoleAdmin"
    if store.name == "seaweedfs":
        everything = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket", "s3:GetObject", "s3:PutObject"],
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
        admin.call("CreateUser", UserName=user)
        admin.call("CreateAccessKey", UserName=user, AccessKeyId=user, SecretAccessKey=secret)
        admin.call(
            "PutUserPolicy", UserName=user, PolicyName="operator", PolicyDocument=json.dumps(everything)
        )
        return "policy operator"
    if store.name == "versitygw":
        account = f"<Account><Access>{user}</Access><Secret>{secret}</Secret><Role>admin</Role></Account>"
        admin._admin("/create-user", account.encode())
        return "role admin"
    pytest.skip(f"{store.adapter.title} keys hold no policies or groups, and keep their secret")


def test_an_account_that_is_not_the_labs_is_refused_untouched_or_adopted(
    store, bucket, make_dataset, tmp_path
):
    """AWS_ACCESS_KEY_ID naming an operator's account: refused in one line, the account as it was;
    with LAB_ADOPT_TRAINER_ACCOUNT=true the lab's, confined like any trainer."""
    from labcore.useradmin import user_admin

    user, secret = f"ops{uuid.uuid4().hex[:8]}", "operator-secret-1"
    env = store.env(bucket, AWS_ACCESS_KEY_ID=user, AWS_SECRET_ACCESS_KEY="trainer-secret-12")
    settings = load_settings(environ=env)
    holds = make_operator(store, settings, user, secret, bucket)
    operator = Minio(store.endpoint, user, secret, secure=False, region="us-east-1")
    operator.put_object(bucket, "elsewhere/by-the-operator", io.BytesIO(b"x"), 1)

    directory, _ = make_dataset({"train": 6, "test": 3})
    args = ["--source", str(directory), "--no-progress"]
    refused = run_module("seeder", args, env, tmp_path)
    assert_one_line_error(
        refused,
        2,
        rf"AWS_ACCESS_KEY_ID='{user}' names an existing {store.adapter.title} account .*\({holds}\)",
    )
    assert user_admin(settings).foreign_rights(user) == [holds]
    operator.put_object(bucket, "elsewhere/still-the-operator", io.BytesIO(b"x"), 1)  # the same secret

    adopted = run_module("seeder", args, {**env, "LAB_ADOPT_TRAINER_ACCOUNT": "true"}, tmp_path)
    assert adopted.returncode == 0, adopted.stderr[-1500:]
    assert user_admin(settings).foreign_rights(user) == []
    trainer = Minio(store.endpoint, user, env["AWS_SECRET_ACCESS_KEY"], secure=False, region="us-east-1")
    with pytest.raises(S3Error) as info:
        trainer.put_object(bucket, "elsewhere/x", io.BytesIO(b"x"), 1)
    assert info.value.code == "AccessDenied"


def test_loader_throughput(store, seeded, samples, request):
    """The bench's own loader passes on this store (2 workers, one pass): reported in the matrix's JSON."""
    from labcore.clients import minio_client
    from trainer.bench.loaders import Plan, list_bench_split, run_loaders
    from trainer.connector import export_credentials

    settings = load_settings(environ=seeded)
    client = minio_client(settings, convention="s3")
    data = list_bench_split(client, settings, "train", shards=True)
    export_credentials(settings)
    loaders = ["s3iter", "s3iter@8", "map", "shards"]
    results = run_loaders(
        settings, client, data, loaders, Plan([2], repeats=1, batch_size=32), None, lambda _: None
    )
    assert [r.samples for r in results] == [samples] * len(loaders)
    request.config._compat_extra.setdefault(store.name, {})["throughput_samples_per_s"] = {
        r.loader: round(r.rates[0]) for r in results
    }


def test_loaders_at_1_kb_and_128_kb(store, bucket, samples, request):
    """The object-size sweep's two telling points on this store (``s3iter@8`` and ``shards``, 2
    workers, one pass each): every key once with all its bytes, objects/s and MB/s in the matrix."""
    from labcore.clients import minio_client
    from trainer.bench.sizes import SweepPlan, sweep
    from trainer.connector import export_credentials

    settings = load_settings(environ=store.env(bucket))
    export_credentials(settings)
    # --samples objects of 1 KB (120 in CI, 1,000 under make compat), and a quarter as many of 128 KB.
    plan = SweepPlan(
        sizes=(1 << 10, 128 << 10),
        bytes_per_point=samples << 10,
        min_objects=max(1, samples // 4),
        loaders=("s3iter@8", "shards"),
        workers=2,
        ceiling_seconds=0,
    )
    points = sweep(minio_client(settings), settings, plan, None, lambda *_, **__: None)
    assert [(p.count, p.wrong) for p in points] == [(samples, []), (max(1, samples // 4), [])]
    request.config._compat_extra.setdefault(store.name, {})["sizes"] = {
        p.label: {
            r["loader"]: [round(r["samples_per_s_median"]), round(r["mb_per_s_median"], 1)] for r in p.rows
        }
        for p in points
    }


@pytest.mark.only_stores("seaweedfs")
def test_a_regrant_with_the_same_secret_leaves_the_trainers_key_alone(store, bucket):
    """A re-seed while a trainer runs must not delete its key, even for a moment; a changed
    secret does replace it (the old one refused, the new one taken)."""
    from labcore.policy import trainer_policy, trainer_policy_name
    from labcore.useradmin import user_admin

    user = f"keep{uuid.uuid4().hex[:8]}"
    settings = load_settings(
        environ=store.env(bucket, AWS_ACCESS_KEY_ID=user, AWS_SECRET_ACCESS_KEY="first-secret")
    )
    admin = user_admin(settings)
    name, policy = trainer_policy_name(settings), trainer_policy(settings)
    admin.grant(user, "first-secret", name, policy)
    actions: list[str] = []
    call = admin.call

    def recorded(action: str, **params: str):
        actions.append(action)
        return call(action, **params)

    admin.call = recorded
    admin.grant(user, "first-secret", name, policy)
    assert "DeleteAccessKey" not in actions and "CreateAccessKey" not in actions, actions

    def lists(secret: str) -> str:
        trainer = Minio(store.endpoint, user, secret, secure=False, region="us-east-1")
        try:
            list(trainer.list_objects(bucket, prefix="mnist/train/"))
        except S3Error as exc:
            return exc.code
        return "ok"

    assert lists("first-secret") == "ok"
    admin.grant(user, "second-secret", name, policy)
    assert actions.count("DeleteAccessKey") == actions.count("CreateAccessKey") == 1, actions
    assert (lists("second-secret"), lists("first-secret")) == ("ok", "SignatureDoesNotMatch")
