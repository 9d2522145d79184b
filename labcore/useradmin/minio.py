"""MinIO: the trainer's user and the lab's policies through MinIO's admin API (``mc admin`` calls)."""

from __future__ import annotations

import json
from collections.abc import Collection

from minio.credentials import StaticProvider
from minio.error import MinioAdminException
from minio.minioadmin import MinioAdmin

from labcore.clients import http_pool, sdk_endpoint
from labcore.errors import ConfigError
from labcore.policy import POLICY_PREFIX, is_lab_policy_name
from labcore.settings import Settings
from labcore.stores import STORES


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
        self._store = STORES["minio"]

    def check_keys(self, user: str, secret: str) -> None:
        if len(secret) < 8 or not self._store.takes_key_id(user):
            raise ConfigError(
                f"AWS_ACCESS_KEY_ID must be {self._store.key_id_hint} and AWS_SECRET_ACCESS_KEY at least 8 for MinIO to "
                "create the trainer user: change them in .env"
            )

    def _user(self, user: str) -> dict | None:
        """MinIO's record of ``user`` (``policyName``: comma-separated, ``memberOf``), None if there is none."""
        try:
            return json.loads(self.admin.user_info(user))
        except MinioAdminException as exc:
            if "XMinioAdminNoSuchUser" in str(exc):
                return None
            raise

    def foreign_rights(self, user: str) -> list[str]:
        info = self._user(user)
        if info is None:
            return []
        policies = sorted(p for p in info.get("policyName", "").split(",") if p and not is_lab_policy_name(p))
        # A group's policies are the member's too (readwrite through a group survives any detach).
        groups = sorted(info.get("memberOf") or [])
        return [f"policy {p}" for p in policies] + [f"group {g}" for g in groups]

    def lab_policies(self, bucket: str) -> dict[str, dict]:
        return {
            name: policy
            for name, policy in json.loads(self.admin.policy_list() or "{}").items()
            if name.startswith(f"{POLICY_PREFIX}{bucket}-")
        }

    def grant(self, user: str, secret: str, name: str, policy: dict, replaces: Collection[str] = ()) -> None:
        admin = self.admin
        admin.policy_add(name, policy=policy)
        admin.user_add(user, secret)
        info = json.loads(admin.user_info(user))
        attached = {p for p in info.get("policyName", "").split(",") if p}
        # The lab's single per-bucket policy of earlier versions listed bare prefixes: replaced too.
        legacy = f"{POLICY_PREFIX}{self._bucket}"
        foreign = sorted(p for p in attached if not is_lab_policy_name(p) or p == legacy or p in replaces)
        if foreign:
            admin.detach_policy(foreign, user=user)
        if name not in attached:
            admin.attach_policy([name], user=user)
        for group in info.get("memberOf") or []:
            # The SDK's hint says str; MinIO takes the members as a JSON list.
            admin.group_remove(group, [user])  # type: ignore[arg-type]
