"""VersityGW: the trainer's account through its admin API, the lab's policy as bucket-policy statements.

VersityGW's internal IAM (``--iam-dir``, set by the image's entrypoint) has accounts with a role
but no per-user policies; for a plain ``user`` account, the bucket's policy decides everything
(``auth/access-control.go`` in v1.8.0). So the lab's policy goes into the bucket policy, with the
trainer's key id as the principal and ``<policy name>:<n>`` as each statement's Sid; statements
of anyone else are kept. The admin API is served on the S3 port: PATCH requests, SigV4 for s3.

An account is the lab's when its role is ``user``, it owns no bucket and the lab's bucket policy
grants it nothing but the lab's statements. Buckets it owns stay its own whatever the seeder
does, so such an account is refused even with ``LAB_ADOPT_TRAINER_ACCOUNT=true``. (ACLs and the
policies of other buckets are not looked at.)
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Collection
from xml.sax.saxutils import escape

from minio.error import S3Error

from labcore.clients import http_pool, minio_client, sdk_endpoint
from labcore.errors import ConfigError, StoreError
from labcore.policy import POLICY_PREFIX, is_lab_policy_name
from labcore.settings import Settings
from labcore.useradmin.signed import signed_request


class VersityUserAdmin:
    """A ``user`` account plus statements in the bucket's policy (``labcore.useradmin.UserAdmin``)."""

    def __init__(self, settings: Settings):
        self._endpoint = sdk_endpoint(settings, "minio")
        self._region = settings.aws_region
        self._http = http_pool(2)
        self._s3 = minio_client(settings, pool_size=2)
        self._bucket = settings.bucket

    def _admin(self, path: str, body: bytes = b"", **query: str) -> ET.Element | None:
        answer = signed_request(
            self._http, self._endpoint, "PATCH", path, region=self._region, query=query, body=body
        )
        if answer.status >= 300:
            try:
                error = ET.fromstring(answer.data)
                reason = f"{error.findtext('Code')}: {error.findtext('Message')}"
            except ET.ParseError:
                reason = f"HTTP {answer.status}"
            raise StoreError(
                f"the admin API of {self._endpoint.server} at {self._endpoint.url} refused {path} for "
                f"{self._endpoint.key_var}={self._endpoint.access_key!r}: {reason}"
            )
        return ET.fromstring(answer.data) if answer.data.strip() else None

    def check_keys(self, user: str, secret: str) -> None:
        return None  # any key id and secret; the admin API takes them as given

    def _bucket_policy(self, bucket: str) -> list[dict]:
        try:
            statements = json.loads(self._s3.get_bucket_policy(bucket)).get("Statement", [])
        except S3Error as exc:
            if exc.code == "NoSuchBucketPolicy":
                return []
            raise
        return [statements] if isinstance(statements, dict) else statements

    def _account(self, user: str) -> ET.Element | None:
        users = self._admin("/list-users")
        accounts = users.iter("Accounts") if users is not None else []
        return next((a for a in accounts if a.findtext("Access") == user), None)

    def _owned(self, user: str) -> list[str]:
        """The buckets ``user`` owns (the admin API's list of every bucket and its owner)."""
        buckets = self._admin("/list-buckets")
        found = buckets.iter("Buckets") if buckets is not None else []
        return sorted(b.findtext("Name") or "" for b in found if b.findtext("Owner") == user)

    def foreign_rights(self, user: str) -> list[str]:
        account = self._account(user)
        if account is None:
            return []
        role = account.findtext("Role") or ""
        rights = [f"role {role}"] if role != "user" else []
        rights += [f"bucket {b}" for b in self._owned(user)]
        for statement in self._bucket_policy(self._bucket):
            sid = str(statement.get("Sid", ""))
            if _names(statement, user) and not is_lab_policy_name(sid.rpartition(":")[0]):
                rights.append(f"statement {sid or '(no Sid)'} in the policy of {self._bucket}")
        return rights

    def lab_policies(self, bucket: str) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for statement in self._bucket_policy(bucket):
            name = str(statement.get("Sid", "")).rpartition(":")[0]
            if name.startswith(f"{POLICY_PREFIX}{bucket}-"):
                found.setdefault(name, {"Statement": []})["Statement"].append(statement)
        return found

    def grant(self, user: str, secret: str, name: str, policy: dict, replaces: Collection[str] = ()) -> None:
        props = f"<Secret>{escape(secret)}</Secret><Role>user</Role>"
        if self._account(user) is not None:  # a changed secret, or a role someone raised, is set back
            owned = self._owned(user)
            if owned:
                raise ConfigError(
                    f"AWS_ACCESS_KEY_ID={user!r} owns bucket(s) {', '.join(owned)} on "
                    f"{self._endpoint.server}, which the seeder cannot take from it, adopted or not: "
                    "choose another trainer key id in .env"
                )
            self._admin("/update-user", f"<MutableProps>{props}</MutableProps>".encode(), access=user)
        else:
            self._admin("/create-user", f"<Account><Access>{escape(user)}</Access>{props}</Account>".encode())
        bucket = self._bucket
        kept = [s for s in self._bucket_policy(bucket) if _kept(s, name, user, replaces)]
        ours = [
            {**statement, "Sid": f"{name}:{n}", "Principal": {"AWS": [user]}}
            for n, statement in enumerate(policy["Statement"])
        ]
        document = {"Version": policy["Version"], "Statement": kept + ours}
        self._s3.set_bucket_policy(bucket, json.dumps(document))


def _names(statement: dict, user: str) -> bool:
    """Whether a statement of a bucket policy names ``user`` as its principal."""
    principal = statement.get("Principal", {})
    aws = principal.get("AWS", []) if isinstance(principal, dict) else principal
    return user in ([aws] if isinstance(aws, str) else aws)


def _kept(statement: dict, name: str, user: str, replaces: Collection[str] = ()) -> bool:
    """Whether a statement of the bucket policy stays when policy ``name`` is written for ``user``."""
    policy = str(statement.get("Sid", "")).rpartition(":")[0]
    if policy == name or policy in replaces:
        return False  # written again, under today's name
    if is_lab_policy_name(policy):
        return True  # another dataset's
    # Anyone else's stays; a grant to the trainer made by hand goes, as MinIO's detached policies.
    return not _names(statement, user)
