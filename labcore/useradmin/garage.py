"""Garage: the trainer's own key, allowed to read and write the lab's bucket and nothing else.

Garage grants per key and bucket (read, write, owner) and has no policies, so this is as far as
it goes: the trainer cannot create buckets or touch another one, but inside the bucket it may
list, overwrite and delete everything (``labcore.stores``: confinement "bucket"). The calls are
Garage's admin API v2 (JSON, a bearer token: ``STORE_ADMIN_TOKEN``) on port 3903.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from urllib.parse import urlencode

from labcore.clients import http_pool
from labcore.errors import AdminApiError, ConfigError, StoreError
from labcore.settings import Settings

# Imported secrets: 16+ printable ASCII characters (entrypoint.sh of the lab's Garage image).
_SECRET = re.compile(r"^[!-~]{16,}$")


class GarageUserAdmin:
    """An imported key with read and write on one bucket (``labcore.useradmin.UserAdmin``)."""

    def __init__(self, settings: Settings):
        host = settings.minio_endpoint.rsplit(":", 1)[0]
        scheme = "https" if settings.minio_secure else "http"
        self._url = (settings.store_admin_url or f"{scheme}://{host}:3903").rstrip("/")
        self._token = settings.store_admin_token
        self._bucket = settings.bucket
        self._http = http_pool(2)

    def call(self, method: str, name: str, body: dict | None = None, **query: str) -> dict:
        """One admin API v2 call; its JSON answer, or ``AdminApiError``."""
        url = f"{self._url}/v2/{name}" + (f"?{urlencode(query)}" if query else "")
        answer = self._http.request(
            method,
            url,
            body=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        text = answer.data.decode(errors="replace")
        if answer.status >= 300:
            try:
                error = json.loads(text)
            except ValueError:
                error = {"code": str(answer.status), "message": text.strip()[:200]}
            hint = " (STORE_ADMIN_TOKEN must be the server's admin token)" if answer.status == 403 else ""
            raise AdminApiError(
                f"the admin API of Garage at {self._url} (STORE_ADMIN_URL) refused {name}: "
                f"{error.get('code')}: {error.get('message')}{hint}",
                str(error.get("code")),
            )
        return json.loads(text) if text.strip() else {}

    def check_keys(self, user: str, secret: str) -> None:
        # The key id has Garage's form already: settings check it when read (Store.key_id_binds_admin).
        if not _SECRET.match(secret):
            raise ConfigError(
                "Garage takes secrets of 16 or more printable characters without spaces: change "
                "AWS_SECRET_ACCESS_KEY in .env"
            )

    def foreign_rights(self, user: str) -> list[str]:
        # Keys have no policies or groups, and an existing key keeps its secret (``_ensure_key``
        # refuses another one): only a key whose secret is in .env already can become the trainer's.
        return []

    def lab_policies(self, bucket: str) -> dict[str, dict]:
        return {}  # no policy documents: nothing per prefix to overlap

    def _bucket_id(self) -> str:
        """The bucket's id, giving it a global alias if it has none.

        A bucket made through S3 (the seeder's make_bucket) is known by name only to the key that
        made it (a local alias); the trainer's key needs the global one.
        """
        try:
            return self.call("GET", "GetBucketInfo", globalAlias=self._bucket)["id"]
        except AdminApiError as exc:
            if exc.code != "NoSuchBucket":
                raise
        found = {
            b["id"]
            for b in self.call("GET", "ListBuckets")  # a JSON list
            for alias in b.get("localAliases", [])
            if alias.get("alias") == self._bucket
        }
        if len(found) != 1:
            raise StoreError(f"Garage has {len(found)} buckets named {self._bucket!r}: expected one (BUCKET)")
        bucket_id = found.pop()
        self.call("POST", "AddBucketAlias", {"bucketId": bucket_id, "globalAlias": self._bucket})
        return bucket_id

    def _ensure_key(self, user: str, secret: str) -> None:
        try:
            info = self.call("GET", "GetKeyInfo", id=user, showSecretKey="true")
        except AdminApiError as exc:
            if exc.code != "NoSuchAccessKey":
                raise
            info = None
        if info is None:
            try:
                self.call("POST", "ImportKey", {"accessKeyId": user, "secretAccessKey": secret, "name": user})
            except AdminApiError as exc:
                if exc.code != "KeyAlreadyExists":
                    raise
                # Unknown to GetKeyInfo yet taken: a deleted key, whose id Garage never gives out again.
                raise ConfigError(
                    f"Garage deleted key AWS_ACCESS_KEY_ID={user!r} once and never reuses an id: "
                    "choose another trainer key id in .env"
                ) from None
        elif info.get("secretAccessKey") != secret:
            raise ConfigError(
                f"Garage holds key AWS_ACCESS_KEY_ID={user!r} with another secret and cannot change it: "
                "set AWS_SECRET_ACCESS_KEY back, or choose a new trainer key id in .env"
            )

    def grant(self, user: str, secret: str, name: str, policy: dict, replaces: Collection[str] = ()) -> None:
        bucket_id = self._bucket_id()
        self._ensure_key(user, secret)
        self.call("POST", "UpdateKey", {"deny": {"createBucket": True}, "neverExpires": True}, id=user)
        everything = {"read": True, "write": True, "owner": True}
        for bucket in self.call("GET", "GetKeyInfo", id=user).get("buckets", []):
            for alias in bucket.get("localAliases", []):
                self.call(
                    "POST", "RemoveBucketAlias",
                    {"bucketId": bucket["id"], "localAlias": alias, "accessKeyId": user},
                )  # fmt: skip
            if bucket["id"] != bucket_id and any(bucket.get("permissions", {}).values()):
                self.call(
                    "POST", "DenyBucketKey",
                    {"bucketId": bucket["id"], "accessKeyId": user, "permissions": everything},
                )  # fmt: skip
        for change, permissions in (
            ("DenyBucketKey", {"read": False, "write": False, "owner": True}),
            ("AllowBucketKey", {"read": True, "write": True, "owner": False}),
        ):
            self.call(
                "POST", change, {"bucketId": bucket_id, "accessKeyId": user, "permissions": permissions}
            )
