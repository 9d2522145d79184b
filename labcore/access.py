"""Least privilege: the trainer's own user on the store, allowed only what training needs.

The seeder runs as the admin and (re)creates this user on every run. The keys in ``AWS_*`` can
list and read the dataset prefixes they were seeded for (``<prefix>/`` and ``<prefix>-shards/``)
and write ``checkpoints/`` and ``runs/``, and nothing else: no delete or overwrite of a sample,
no listing of a neighbour such as ``<prefix>-private/``, no other bucket. The lab keeps one policy
per bucket and dataset prefix, and after every seed the user holds exactly the lab's policies.
"""

from __future__ import annotations

import re

from labcore.errors import ConfigError
from labcore.settings import Settings
from labcore.shards import shards_prefix

WRITABLE_PREFIXES = ("checkpoints", "runs")
POLICY_PREFIX = "lab-trainer-"
# Key ids of real AWS users and sessions: never meant to become a user of the lab on the store.
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


def dataset_of(policy: dict, bucket: str) -> str | None:
    """The dataset prefix a lab trainer policy for ``bucket`` grants, or None when it grants none.

    Stores hand documents back in their own shape: ``Action`` and ``Resource`` may be a string.
    """
    for statement in policy.get("Statement", []):
        actions = statement.get("Action", [])
        if "s3:GetObject" in ([actions] if isinstance(actions, str) else actions):
            resources = statement.get("Resource", [])
            paths = [r.split(":::", 1)[1] for r in ([resources] if isinstance(resources, str) else resources)]
            prefixes = [p.split("/", 1)[1][:-2] for p in paths if p.startswith(f"{bucket}/")]
            data = [p for p in prefixes if shards_prefix(p) in prefixes]
            if data:
                return data[0]
    return None


def ensure_trainer_user(settings: Settings) -> str | None:
    """Create or update the ``AWS_ACCESS_KEY_ID`` user with exactly the lab's policies; return its name.

    Nothing to do (``None``) when the trainer is configured with the admin's own keys. Policies
    given to the user by anyone else (MinIO's ``readwrite``, say) are removed: they would undo
    least privilege. How the store is told is its backend's business (``labcore.useradmin``).
    """
    from labcore.useradmin import user_admin

    user, secret = settings.aws_access_key_id, settings.aws_secret_access_key
    if not user or user == settings.minio_access_key:
        return None
    if _AWS_KEY_ID.match(user) and not settings.allow_aws_key_ids:
        raise ConfigError(
            f"AWS_ACCESS_KEY_ID={user[:4]}... looks like a real AWS key id, which the seeder would register "
            "as a user of the store: use the lab's trainer keys from .env, or set LAB_ALLOW_AWS_KEY_IDS=true"
        )
    admin = user_admin(settings)
    admin.check_keys(user, secret)
    name = trainer_policy_name(settings)
    others = [
        dataset_of(p, settings.bucket) for n, p in admin.lab_policies(settings.bucket).items() if n != name
    ]
    check_prefix_free(settings, [p for p in others if p])
    admin.grant(user, secret, name, trainer_policy(settings))
    return user
