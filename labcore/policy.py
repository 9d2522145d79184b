"""The lab's policy for the trainer's keys, the same on every store: what they may touch, under which name.

The keys in ``AWS_*`` can list and read the dataset prefixes they were seeded for (``<prefix>/``
and ``<prefix>-shards/``) and write ``checkpoints/`` and ``runs/``, and nothing else: no delete
or overwrite of a sample, no listing of a neighbour such as ``<prefix>-private/``, no other
bucket. The lab keeps one policy per bucket and dataset prefix, named so that it recognises its
own (``is_lab_policy_name``) and datasets in one bucket do not overlap (``check_prefix_free``).

Facts and pure functions only: the store backends (``labcore.useradmin``) import this, and
``labcore.access`` puts it on the store through them.
"""

from __future__ import annotations

import hashlib
import re

from labcore.errors import ConfigError
from labcore.settings import Settings
from labcore.shards import shards_prefix

WRITABLE_PREFIXES = ("checkpoints", "runs")
POLICY_PREFIX = "lab-trainer-"
# Every name any version of the lab gave its policies: lab-trainer-<bucket> (one per bucket, the
# first versions), lab-trainer-<bucket>-<prefix with / as .>, and today's, which ends in a hash.
_LAB_POLICY_NAME = re.compile(r"^lab-trainer-[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](-[A-Za-z0-9._-]+)?$")
_NAME_MAX = 128  # AWS IAM's limit on policy names (SeaweedFS keeps to it)
_HASH_CHARS = 12


def trainer_policy_name(settings: Settings) -> str:
    """One policy per bucket and dataset prefix, so datasets and labs do not overwrite each other's.

    A readable slug of the prefix (``/`` as ``.``) and a hash of the exact bucket and prefix:
    ``a/b`` and ``a.b`` (one slug) get names of their own, as do bucket ``a-b`` with prefix ``c``
    and bucket ``a`` with prefix ``b-c``. The slug is cut to keep the name within 128 characters.
    """
    digest = hashlib.sha256(f"{settings.bucket}/{settings.data_prefix}".encode()).hexdigest()[:_HASH_CHARS]
    head = f"{POLICY_PREFIX}{settings.bucket}-"
    slug = settings.data_prefix.replace("/", ".")[: _NAME_MAX - len(head) - 1 - _HASH_CHARS]
    return f"{head}{slug}-{digest}"


def earlier_policy_name(settings: Settings) -> str:
    """The name versions before the hash gave this dataset's policy (shared by ``a/b`` and ``a.b``)."""
    return f"{POLICY_PREFIX}{settings.bucket}-{settings.data_prefix.replace('/', '.')}"


def is_lab_policy_name(name: str) -> bool:
    """Whether ``name`` is one the lab gives (or, in an earlier version, gave) its trainer policies."""
    return bool(_LAB_POLICY_NAME.match(name))


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
