"""MinIO: the trainer's user and the lab's policies through MinIO's admin API (``mc admin`` calls)."""

from __future__ import annotations

import json

from minio.credentials import StaticProvider
from minio.minioadmin import MinioAdmin

from labcore.access import POLICY_PREFIX
from labcore.clients import http_pool, sdk_endpoint
from labcore.errors import ConfigError
from labcore.settings import Settings


class MinioUserAdmin:
    """Policies are named objects of the server, attached to the user (``labcore.useradmin.UserAdmin``)."""

    def __init__(self, settings: Settings):
        endpoint = sdk_endpoint(settings, "minio")
        self.admin = MinioAdmin(
            endpoint=endpoint.host_port,
            credentials=StaticProvider(endpoint.access_key, endpoint.secret_key),
            secure=endpoint.secure,
            region=settings.aws_region,
            # The same short timeouts as every other client: a hung server is an error in seconds.
            http_client=http_pool(4),
        )
        self._bucket = settings.bucket

    def check_keys(self, user: str, secret: str) -> None:
        if len(secret) < 8 or not 3 <= len(user) <= 20:
            raise ConfigError(
                "AWS_ACCESS_KEY_ID must be 3-20 characters and AWS_SECRET_ACCESS_KEY at least 8 for MinIO to "
                "create the trainer user: change them in .env"
            )

    def lab_policies(self, bucket: str) -> dict[str, dict]:
        return {
            name: policy
            for name, policy in json.loads(self.admin.policy_list() or "{}").items()
            if name.startswith(f"{POLICY_PREFIX}{bucket}-")
        }

    def grant(self, user: str, secret: str, name: str, policy: dict) -> None:
        admin = self.admin
        admin.policy_add(name, policy=policy)
        admin.user_add(user, secret)
        attached = {p for p in json.loads(admin.user_info(user)).get("policyName", "").split(",") if p}
        # The lab's single per-bucket policy of earlier versions listed bare prefixes: replaced too.
        legacy = f"{POLICY_PREFIX}{self._bucket}"
        foreign = sorted(p for p in attached if not p.startswith(POLICY_PREFIX) or p == legacy)
        if foreign:
            admin.detach_policy(foreign, user=user)
        if name not in attached:
            admin.attach_policy([name], user=user)
