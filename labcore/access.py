"""Least privilege: the trainer's own MinIO user, allowed only what training needs.

The seeder runs as the admin and (re)creates this user on every run. The keys in ``AWS_*`` can
list and read the dataset prefixes they were seeded for (``<prefix>/`` and ``<prefix>-shards/``)
and write ``checkpoints/`` and ``runs/``, and nothing else: no delete or overwrite of a sample,
no listing of a neighbour such as ``<prefix>-private/``, no other bucket. The lab keeps one policy
per bucket and dataset prefix, and after every seed the user holds exactly the lab's policies.
"""

from __future__ import annotations

import json
import re

from minio.credentials import StaticProvider
from minio.minioadmin import MinioAdmin

from labcore.clients import http_pool, sdk_endpoint
from labcore.errors import ConfigError
from labcore.settings import Settings
from labcore.shards import shards_prefix

WRITABLE_PREFIXES = ("checkpoints", "runs")
POLICY_PREFIX = "lab-trainer-"
# Key ids of real AWS users and sessions: never meant to become a MinIO user of the lab.
_AWS_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{12,}$")


def trainer_policy_name(settings: Settings) -> str:
    """One policy per bucket and dataset prefix, so datasets and labs do not overwrite each other's."""
    return f"{POLICY_PREFIX}{settings.bucket}-{settings.data_prefix.replace('/', '.')}"


def dataset_prefixes(settings: Settings) -> tuple[str, str]:
    """The two key prefixes a dataset occupies: its objects and its shards."""
    return settings.data_prefix, shards_prefix(settings.data_prefix)


def trainer_policy(settings: Settings) -> dict:
    """List and read the dataset's prefixes, read and write ``checkpoints/`` and ``runs/``; nothing else.

    Every prefix condition ends in ``/``: ``mnist/*`` lets the trainer list ``mnist/train/`` but
    not ``mnist-private/`` (a bare ``mnist`` prefix would list both).
    """
    bucket = f"arn:aws:s3:::{settings.bucket}"
    readable = (*dataset_prefixes(settings), *WRITABLE_PREFIXES)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetBucketLocation"], "Resource": [bucket]},
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket],
                "Condition": {"StringLike": {"s3:prefix": [f"{p}/*" for p in readable]}},
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [f"{bucket}/{p}/*" for p in readable],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                "Resource": [f"{bucket}/{p}/*" for p in WRITABLE_PREFIXES],
            },
        ],
    }


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def check_prefix_free(settings: Settings, others: list[str]) -> None:
    """``ConfigError`` when this dataset's prefixes overlap another dataset's in the bucket."""
    mine = dataset_prefixes(settings)
    for other in others:
        theirs = (other, shards_prefix(other))
        if other != settings.data_prefix and any(_overlap(a, b) for a in mine for b in theirs):
            raise ConfigError(
                f"DATA_PREFIX={settings.data_prefix!r} overlaps the dataset at {other}/ in bucket "
                f"{settings.bucket} (each dataset needs prefixes of its own): choose another DATA_PREFIX"
            )


def _admin(settings: Settings) -> MinioAdmin:
    endpoint = sdk_endpoint(settings, "minio")
    return MinioAdmin(
        endpoint=endpoint.host_port,
        credentials=StaticProvider(endpoint.access_key, endpoint.secret_key),
        secure=endpoint.secure,
        region=settings.aws_region,
        # The same short timeouts as every other client: a hung server is an error in seconds.
        http_client=http_pool(4),
    )


def _lab_datasets(admin: MinioAdmin, bucket: str) -> dict[str, str]:
    """``policy name -> dataset prefix`` of the lab's trainer policies for ``bucket``."""
    found = {}
    for name, policy in json.loads(admin.policy_list() or "{}").items():
        if not name.startswith(f"{POLICY_PREFIX}{bucket}-"):
            continue
        for statement in policy.get("Statement", []):
            if "s3:GetObject" in statement.get("Action", []):
                paths = [r.split(":::", 1)[1] for r in statement["Resource"]]
                resources = [p.split("/", 1)[1][:-2] for p in paths if p.startswith(f"{bucket}/")]
                data = [r for r in resources if shards_prefix(r) in resources]
                if data:
                    found[name] = data[0]
    return found


def ensure_trainer_user(settings: Settings) -> str | None:
    """Create or update the ``AWS_ACCESS_KEY_ID`` user with exactly the lab's policies; return its name.

    Nothing to do (``None``) when the trainer is configured with the admin's own keys. Policies
    attached by anyone else (``readwrite``, say) are detached: they would undo least privilege.
    """
    user, secret = settings.aws_access_key_id, settings.aws_secret_access_key
    if not user or user == settings.minio_access_key:
        return None
    if _AWS_KEY_ID.match(user) and not settings.allow_aws_key_ids:
        raise ConfigError(
            f"AWS_ACCESS_KEY_ID={user[:4]}... looks like a real AWS key id, which the seeder would register "
            "as a MinIO user: use the lab's trainer keys from .env, or set LAB_ALLOW_AWS_KEY_IDS=true"
        )
    if len(secret) < 8 or not 3 <= len(user) <= 20:
        raise ConfigError(
            "AWS_ACCESS_KEY_ID must be 3-20 characters and AWS_SECRET_ACCESS_KEY at least 8 for MinIO to "
            "create the trainer user: change them in .env"
        )
    admin = _admin(settings)
    name = trainer_policy_name(settings)
    datasets = _lab_datasets(admin, settings.bucket)
    check_prefix_free(settings, [p for n, p in datasets.items() if n != name])
    admin.policy_add(name, policy=trainer_policy(settings))
    admin.user_add(user, secret)
    attached = {p for p in json.loads(admin.user_info(user)).get("policyName", "").split(",") if p}
    # The lab's single per-bucket policy of earlier versions listed bare prefixes: replaced too.
    legacy = f"{POLICY_PREFIX}{settings.bucket}"
    foreign = sorted(p for p in attached if not p.startswith(POLICY_PREFIX) or p == legacy)
    if foreign:
        admin.detach_policy(foreign, user=user)
    if name not in attached:
        admin.attach_policy([name], user=user)
    return user
