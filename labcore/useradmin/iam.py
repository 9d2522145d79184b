"""SeaweedFS: the trainer's user, key and inline policy through AWS IAM's query API.

SeaweedFS serves that API on its S3 port (``-s3.iam.readOnly=false``, set by the image's
entrypoint): form-encoded POSTs, signed with SigV4 by the admin identity, answered in IAM's XML.
It takes the lab's policy document as it is, ``s3:prefix`` conditions included, and keeps users in
its filer, so they survive a restart.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Collection
from dataclasses import replace
from urllib.parse import urlencode

from labcore.clients import http_pool, sdk_endpoint
from labcore.errors import AdminApiError, ConfigError, StoreError
from labcore.policy import POLICY_PREFIX, is_lab_policy_name
from labcore.settings import Settings
from labcore.stores import STORES
from labcore.useradmin.signed import signed_request

_NS = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/"}


class IamUserAdmin:
    """Inline user policies (``PutUserPolicy``) on an IAM-speaking store (``labcore.useradmin.UserAdmin``)."""

    def __init__(self, settings: Settings):
        self._endpoint = sdk_endpoint(settings, "minio")
        self._store = STORES[settings.store]
        self._region = settings.aws_region
        self._http = http_pool(2)

    def call(self, action: str, **params: str) -> ET.Element:
        """POST one IAM action; the answer's XML root, or ``AdminApiError`` with the store's code."""
        body = urlencode({"Action": action, "Version": "2010-05-08", **params}).encode()
        answer = signed_request(
            self._http, self._endpoint, "POST", "/", region=self._region, service="iam", body=body,
            content_type="application/x-www-form-urlencoded; charset=utf-8",
        )  # fmt: skip
        try:
            root = ET.fromstring(answer.data)
        except ET.ParseError:
            raise StoreError(
                f"{self._endpoint.server} at {self._endpoint.url} did not answer IAM's {action} "
                f"(HTTP {answer.status}): is its IAM API on? (docker/stores/seaweedfs/entrypoint.sh)"
            ) from None
        if answer.status >= 300:
            error = root.find(".//iam:Error", _NS)
            code = error.findtext("iam:Code", "", _NS) if error is not None else str(answer.status)
            message = error.findtext("iam:Message", "", _NS) if error is not None else ""
            raise AdminApiError(
                f"the IAM API of {self._endpoint.server} at {self._endpoint.url} refused {action} for "
                f"{self._endpoint.key_var}={self._endpoint.access_key!r}: {code}: {message}",
                code,
            )
        return root

    def _texts(self, root: ET.Element, tag: str) -> list[str]:
        return [e.text or "" for e in root.iter(f"{{{_NS['iam']}}}{tag}")]

    def _groups(self, user: str) -> list[str]:
        """The groups ``user`` is in; none where the store has no groups to ask about."""
        try:
            return self._texts(self.call("ListGroupsForUser", UserName=user), "GroupName")
        except AdminApiError as exc:
            if exc.code in ("NotImplemented", "InvalidAction"):
                return []
            raise

    def foreign_rights(self, user: str) -> list[str]:
        try:
            inline = self._texts(self.call("ListUserPolicies", UserName=user), "member")
        except AdminApiError as exc:
            if exc.code == "NoSuchEntity":
                return []  # no such user: the seeder makes it
            raise
        # An identity made outside the IAM API (s3.configure) lists its actions as "<user>_policy".
        rights = [f"policy {p}" for p in inline if not is_lab_policy_name(p)]
        # The lab never attaches managed policies: any is someone else's.
        attached = self.call("ListAttachedUserPolicies", UserName=user)
        rights += [f"policy {p}" for p in self._texts(attached, "PolicyName")]
        return rights + [f"group {g}" for g in self._groups(user)]

    def check_keys(self, user: str, secret: str) -> None:
        # The secret's rule is SeaweedFS's too (weed/iam/validation.go), for caller-supplied keys.
        if not self._store.takes_key_id(user) or not 8 <= len(secret) <= 128:
            raise ConfigError(
                f"{self._endpoint.server} takes trainer keys of {self._store.key_id_hint} (AWS_ACCESS_KEY_ID="
                f"{user!r}) with a secret of 8-128 characters: change them in .env, e.g. AWS_ACCESS_KEY_ID=labtrainer"
            )

    def lab_policies(self, bucket: str) -> dict[str, dict]:
        found = {}
        for user in self._texts(self.call("ListUsers"), "UserName"):
            for name in self._texts(self.call("ListUserPolicies", UserName=user), "member"):
                if name.startswith(f"{POLICY_PREFIX}{bucket}-"):
                    answer = self.call("GetUserPolicy", UserName=user, PolicyName=name)
                    found[name] = json.loads(self._texts(answer, "PolicyDocument")[0])
        return found

    def _secret_works(self, user: str, secret: str) -> bool:
        """Whether the store takes requests signed with ``user``/``secret`` (allowed or not).

        A secret cannot be read back: a ListBuckets signed with it tells a right secret (200, or
        AccessDenied) from a wrong one (SignatureDoesNotMatch) without changing anything.
        """
        as_trainer = replace(self._endpoint, access_key=user, secret_key=secret)
        answer = signed_request(self._http, as_trainer, "GET", "/", region=self._region)
        return answer.status < 300 or b"<Code>AccessDenied</Code>" in answer.data

    def _set_secret(self, user: str, secret: str, *, existing: bool) -> None:
        """Make the key ``user`` with ``secret``, deleting the ``existing`` key of that id first.

        The key id is the trainer's ``AWS_ACCESS_KEY_ID`` and a user holds one key of an id, so a
        changed secret cannot be made before the old is gone: between the two calls the key is
        missing, and a create that fails leaves it missing until the seeder runs again (which
        finds no key and makes it). An unchanged secret never comes here (``grant``), so a re-seed
        during training leaves the running trainer's key alone.
        """
        if existing:
            self.call("DeleteAccessKey", UserName=user, AccessKeyId=user)
        try:
            self.call("CreateAccessKey", UserName=user, AccessKeyId=user, SecretAccessKey=secret)
        except AdminApiError as exc:
            if exc.code == "EntityAlreadyExists":
                raise ConfigError(
                    f"AWS_ACCESS_KEY_ID={user!r} is a key of another {self._endpoint.server} user already: "
                    "choose another trainer key id in .env"
                ) from None
            if existing:
                raise AdminApiError(
                    f"{exc} (the old key {user!r} is deleted: run the seeder again to make it)", exc.code
                ) from None
            raise

    def grant(self, user: str, secret: str, name: str, policy: dict, replaces: Collection[str] = ()) -> None:
        try:
            self.call("CreateUser", UserName=user)
        except AdminApiError as exc:
            if exc.code != "EntityAlreadyExists":
                raise
        keys = self._texts(self.call("ListAccessKeys", UserName=user), "AccessKeyId")
        if user not in keys or not self._secret_works(user, secret):
            self._set_secret(user, secret, existing=user in keys)
        attached = self.call("ListAttachedUserPolicies", UserName=user)
        for arn in self._texts(attached, "PolicyArn"):
            self.call("DetachUserPolicy", UserName=user, PolicyArn=arn)
        for group in self._groups(user):  # a group's policies would be the trainer's too
            self.call("RemoveUserFromGroup", GroupName=group, UserName=user)
        # The new policy goes in before older names come out: the key is never without one.
        self.call("PutUserPolicy", UserName=user, PolicyName=name, PolicyDocument=json.dumps(policy))
        for other in self._texts(self.call("ListUserPolicies", UserName=user), "member"):
            if other != name and (not is_lab_policy_name(other) or other in replaces):
                self.call("DeleteUserPolicy", UserName=user, PolicyName=other)
