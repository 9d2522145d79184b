"""Least privilege: the trainer's own user on the store, allowed only what training needs.

The seeder runs as the admin and (re)creates this user on every run. The keys in ``AWS_*`` can
list and read the dataset prefixes they were seeded for (``<prefix>/`` and ``<prefix>-shards/``)
and write ``checkpoints/`` and ``runs/``, and nothing else: no delete or overwrite of a sample,
no listing of a neighbour such as ``<prefix>-private/``, no other bucket. The lab keeps one policy
per bucket and dataset prefix, and after every seed the user holds exactly the lab's policies.

The seeder only makes that user its own where the account is new or already the lab's (it holds
nothing but the lab's policies, and no group): an operator's account named by ``AWS_ACCESS_KEY_ID``
is refused in one line unless ``LAB_ADOPT_TRAINER_ACCOUNT=true`` says to strip it.
"""

from __future__ import annotations

import hashlib
import re

from labcore.errors import ConfigError
from labcore.settings import Settings
from labcore.shards import shards_prefix
from labcore.stores import STORES

WRITABLE_PREFIXES = ("checkpoints", "runs")
POLICY_PREFIX = "lab-trainer-"
# Key ids of real AWS users and sessions: never meant to become a user of the lab on the store.
_AWS_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{12,}$")
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


def check_account(settings: Settings, user: str, foreign: list[str]) -> None:
    """``ConfigError`` when the account ``user`` holds rights the lab did not give it (``foreign``,
    as the store's backend found them) and ``LAB_ADOPT_TRAINER_ACCOUNT`` does not say to take them.

    Seeding resets the account's secret and strips what is not the lab's: on an operator's account
    (MinIO's ``consoleAdmin``, a group with ``readwrite``) that is a takeover, not least privilege.
    """
    if not foreign or settings.adopt_trainer_account:
        return
    shown = ", ".join(foreign[:4]) + (f" and {len(foreign) - 4} more" if len(foreign) > 4 else "")
    raise ConfigError(
        f"AWS_ACCESS_KEY_ID={user!r} names an existing {STORES[settings.store].title} account that is not "
        f"the lab's ({shown}): seeding would reset its secret and take those away; choose another trainer "
        "key id in .env, or set LAB_ADOPT_TRAINER_ACCOUNT=true to make it the lab's"
    )


def ensure_trainer_user(settings: Settings) -> str | None:
    """Create or update the ``AWS_ACCESS_KEY_ID`` user with exactly the lab's policies; return its name.

    Nothing to do (``None``) when the trainer is configured with the admin's own keys. An existing
    account that is not the lab's is refused (``check_account``); one adopted with
    ``LAB_ADOPT_TRAINER_ACCOUNT=true`` loses every policy and group the lab did not give it, since
    they would undo least privilege. How the store is told is its backend's business
    (``labcore.useradmin``).
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
    check_account(settings, user, admin.foreign_rights(user))
    name, bucket = trainer_policy_name(settings), settings.bucket
    policies = admin.lab_policies(bucket)
    # This dataset's policy under the name an earlier version gave it: replaced by today's. Only
    # if it grants this very prefix, since a/b and a.b shared that name.
    earlier = earlier_policy_name(settings)
    replaces = (
        [earlier]
        if earlier != name and dataset_of(policies.get(earlier, {}), bucket) == settings.data_prefix
        else []
    )
    others = [dataset_of(p, bucket) for n, p in policies.items() if n != name and n not in replaces]
    check_prefix_free(settings, [p for p in others if p])
    admin.grant(user, secret, name, trainer_policy(settings), replaces)
    return user
