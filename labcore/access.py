"""Least privilege: the trainer's own MinIO user, allowed only what training needs.

The seeder runs as the admin and (re)creates this user on every run, so the keys in ``AWS_*`` can
read the dataset prefixes and write ``checkpoints/`` and ``runs/`` but cannot delete or
overwrite a sample, nor touch any other bucket.
"""

from __future__ import annotations

import json

from minio.credentials import StaticProvider
from minio.minioadmin import MinioAdmin

from labcore.clients import sdk_endpoint
from labcore.errors import ConfigError
from labcore.settings import Settings
from labcore.shards import shards_prefix

WRITABLE_PREFIXES = ("checkpoints", "runs")


def trainer_policy_name(settings: Settings) -> str:
    """One policy per bucket, so two labs on one server do not share grants."""
    return f"lab-trainer-{settings.bucket}"


def trainer_policy(settings: Settings) -> dict:
    """Read the dataset prefixes, read and write ``checkpoints/`` and ``runs/``; nothing else."""
    bucket = f"arn:aws:s3:::{settings.bucket}"
    readable = (settings.data_prefix, shards_prefix(settings.data_prefix), *WRITABLE_PREFIXES)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation"],
                "Resource": [bucket],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket],
                "Condition": {"StringLike": {"s3:prefix": [f"{p}/*" for p in readable] + list(readable)}},
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


def ensure_trainer_user(settings: Settings) -> str | None:
    """Create or update the ``AWS_ACCESS_KEY_ID`` user with the trainer policy; return its name.

    Nothing to do (``None``) when the trainer is configured with the admin's own keys.
    """
    user, secret = settings.aws_access_key_id, settings.aws_secret_access_key
    if not user or user == settings.minio_access_key:
        return None
    if len(secret) < 8 or not 3 <= len(user) <= 20:
        raise ConfigError(
            "AWS_ACCESS_KEY_ID must be 3-20 characters and AWS_SECRET_ACCESS_KEY at least 8 for MinIO to "
            "create the trainer user: change them in .env"
        )
    endpoint = sdk_endpoint(settings, "minio")
    admin = MinioAdmin(
        endpoint=endpoint.host_port,
        credentials=StaticProvider(endpoint.access_key, endpoint.secret_key),
        secure=endpoint.secure,
        region=settings.aws_region,
    )
    name = trainer_policy_name(settings)
    admin.policy_add(name, policy=trainer_policy(settings))
    admin.user_add(user, secret)
    attached = json.loads(admin.user_info(user)).get("policyName", "")
    if name not in attached.split(","):
        admin.attach_policy([name], user=user)
    return user
