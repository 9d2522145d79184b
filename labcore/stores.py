"""The S3 servers the lab runs, and everything that differs between them: one adapter per store.

MinIO is the default. The others run in its place (``STORE=seaweedfs make up``): Compose starts
their image as the ``minio`` service, with the override file named here. Seeder, trainer and
loaders speak plain S3 and never ask which store they talk to; what is not plain S3 lives here:

- least privilege: creating the trainer's own user and prefix policy (``labcore.useradmin``:
  MinIO's admin API, SeaweedFS's IAM API, VersityGW's admin API and bucket policy; Garage only
  grants whole buckets, which is said in one line). Where the lab cannot make the user at all, the
  trainer runs with the admin keys, and the seeder says so in one line;
- server-side request counts for the bench (MinIO's metrics);
- snowball uploads (MinIO extracts a tar of many objects);
- the key-id rules of the store (Garage: 8 or more of ``A-Za-z0-9._-``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labcore.settings import Settings


@dataclass(frozen=True)
class Store:
    """One S3 server: what the lab can do there beyond plain S3, and how Compose runs it."""

    name: str
    title: str
    source: str  # the pinned release its image is built from (scripts/build-*-image.sh)
    # How far the lab can confine the trainer's keys there: "prefix" (the lab's own policy, as on
    # MinIO), "bucket" (its own key, but read and write on all of the bucket), "" (admin keys).
    confinement: str = ""
    needs_admin_token: bool = False  # the user admin API wants STORE_ADMIN_TOKEN (Garage)
    request_metrics: bool = False
    snowball: bool = False
    key_id: re.Pattern | None = None  # the form its access key ids must have, if any
    key_id_hint: str = ""

    def confines(self, admin_token: str) -> str:
        """``confinement``, or "" where it needs an admin token and none is set."""
        return "" if self.needs_admin_token and not admin_token else self.confinement

    @property
    def compose_file(self) -> str | None:
        """The Compose override that runs this store as the ``minio`` service (None: MinIO itself)."""
        return None if self.name == "minio" else f"docker/stores/{self.name}/compose.yml"


STORES: dict[str, Store] = {
    s.name: s
    for s in (
        Store(
            "minio",
            "MinIO",
            "github.com/minio/minio 7aac2a2c5b7c (2026-02-12, the archived repository's last commit) + the lab's patches",
            confinement="prefix",
            request_metrics=True,
            snowball=True,
        ),
        Store(
            "seaweedfs",
            "SeaweedFS",
            "github.com/seaweedfs/seaweedfs 7506e5f91cd6 (2026-11-09)",
            confinement="prefix",
        ),
        Store("versitygw", "VersityGW", "github.com/versity/versitygw v1.8.0", confinement="prefix"),
        Store(
            "garage",
            "Garage",
            "crates.io garage 2.5.0",
            # Garage grants read/write/owner per key and bucket, nothing finer, and has no bucket
            # policies (its S3 compatibility page: "ACL, Policies endpoints ... none of them").
            confinement="bucket",
            needs_admin_token=True,
            # Imported keys (the lab's own): ids of 8+ such characters; GK + 24 hex is only the
            # shape of the keys Garage generates itself.
            key_id=re.compile(r"^[A-Za-z0-9._-]{8,}$"),
            key_id_hint="8 or more of A-Z a-z 0-9 . _ -, e.g. lab-admin",
        ),
    )
}


def store_for(name: str) -> Store:
    """The adapter of ``name``; KeyError if the lab has none (settings validate STORE first)."""
    return STORES[name]


def trainer_access(settings: Settings) -> str:
    """Give the trainer what it needs on this store and say how, in one line for the seeder to print ('' if nothing to say).

    Where the store lets the lab confine a user: the trainer's user with the lab's prefix policy,
    or, where grants are per bucket (Garage), its own key on the bucket alone, said loudly.
    Elsewhere, one loud line: the lab still runs, with the admin keys.
    """
    store = store_for(settings.store)
    confinement = store.confines(settings.store_admin_token)
    if not confinement:
        missing = " without STORE_ADMIN_TOKEN" if store.needs_admin_token else ""
        return (
            f"least privilege unavailable on {store.title}{missing}: the trainer uses the admin keys "
            "(README, Other S3 servers)"
        )
    from labcore.access import ensure_trainer_user
    from labcore.shards import shards_prefix

    user = ensure_trainer_user(settings)
    if not user:
        return ""  # configured with the admin's own keys: nothing was made, nothing to say
    if confinement == "bucket":
        return (
            f"least privilege in part on {store.title}: trainer key {user!r} may read and write all of "
            f"{settings.bucket} and nothing else ({store.title} grants per bucket, not per prefix)"
        )
    prefix = settings.data_prefix
    return (
        f"trainer user {user!r}: read {prefix}/ and {shards_prefix(prefix)}/, write checkpoints/ and "
        f"runs/ in {settings.bucket}"
    )


def get_counter(settings: Settings) -> Callable[[], int] | None:
    """A function reading the GET requests the server has served so far, or None where it keeps no count."""
    if not store_for(settings.store).request_metrics:
        return None
    from labcore.clients import sdk_endpoint, store_errors
    from labcore.metrics import settled_counts

    admin = sdk_endpoint(settings, "minio")

    def gets() -> int:
        with store_errors(settings, "minio"):
            return settled_counts(admin.url, admin.access_key, admin.secret_key)["GetObject"]

    return gets
