"""The admin side of least privilege, one module per store: who may make the trainer's user, and how.

The lab's policy (``labcore.policy``) is the same everywhere; how a store is told about it is not:
MinIO has its own admin API, SeaweedFS serves AWS IAM's query API on its S3 port, VersityGW takes
bucket policies, Garage grants whole buckets to keys through its own admin API. Each backend
offers the same calls, so ``labcore.access`` never asks which store it talks to. ``BACKENDS`` has
one per store of ``labcore.stores.STORES``, by the same name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

from labcore.errors import ConfigError
from labcore.settings import Settings
from labcore.useradmin.garage import GarageUserAdmin
from labcore.useradmin.iam import IamUserAdmin
from labcore.useradmin.minio import MinioUserAdmin
from labcore.useradmin.versitygw import VersityUserAdmin


class UserAdmin(Protocol):
    """What ``labcore.access`` needs from a store to confine the trainer's keys."""

    def check_keys(self, user: str, secret: str) -> None:
        """``ConfigError`` naming the variable when the store cannot take these trainer keys."""

    def foreign_rights(self, user: str) -> list[str]:
        """What the existing account ``user`` holds that the lab did not give it, one short phrase
        each ("policy consoleAdmin", "group ops"); ``[]`` when there is no such account or it is the
        lab's. These are what ``grant`` would take away."""

    def lab_policies(self, bucket: str) -> dict[str, dict]:
        """The lab's trainer policies for ``bucket`` on this store, of any user: name -> policy document."""

    def grant(self, user: str, secret: str, name: str, policy: dict, replaces: Collection[str] = ()) -> None:
        """Create or update ``user`` (key id ``user``, secret ``secret``) to hold policy ``name``.

        Afterwards the user holds the lab's policies and nothing else: any other policy, and any
        group it was in, is removed, and so are the policies named in ``replaces`` (earlier names
        of ``name``).
        """


# The backend of each store, by its name in labcore.stores.STORES (a unit test holds the two equal).
BACKENDS: dict[str, Callable[[Settings], UserAdmin]] = {
    "minio": MinioUserAdmin,
    "seaweedfs": IamUserAdmin,
    "versitygw": VersityUserAdmin,
    "garage": GarageUserAdmin,
}


def user_admin(settings: Settings) -> UserAdmin:
    """The backend for ``settings.store``, signed with the admin keys (``MINIO_*``)."""
    backend = BACKENDS.get(settings.store)
    if backend is None:
        raise ConfigError(
            f"STORE={settings.store!r} has no user admin in labcore.useradmin: use one of {', '.join(BACKENDS)}"
        )
    return backend(settings)
