"""The S3 servers the lab runs, and everything that differs between them: one adapter per store.

MinIO is the default. The others run in its place (``STORE=seaweedfs make up``): Compose starts
their image as the ``minio`` service, with the override file named here. Seeder, trainer and
loaders speak plain S3 and never ask which store they talk to; what is not plain S3 lives here:

- least privilege: creating the trainer's own user and prefix policy (MinIO's admin API). A store
  where the lab cannot do that runs the trainer with the admin keys, and says so in one line;
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
    least_privilege: bool = False
    request_metrics: bool = False
    snowball: bool = False
    key_id: re.Pattern | None = None  # the form its access key ids must have, if any
    key_id_hint: str = ""

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
            "github.com/minio/minio 7aac2a2c5b7c (2026-02-12, the archived repository's last commit)",
            least_privilege=True,
            request_metrics=True,
            snowball=True,
        ),
        Store("seaweedfs", "SeaweedFS", "github.com/seaweedfs/seaweedfs 7506e5f91cd6 (2026-11-09)"),
        Store("versitygw", "VersityGW", "github.com/versity/versitygw v1.8.0"),
        Store(
            "garage",
            "Garage",
            "crates.io garage 2.5.0",
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

    MinIO: the trainer's own user with the lab's prefix policy. Elsewhere, one loud line: the
    lab still runs, with the admin keys.
    """
    store = store_for(settings.store)
    if not store.least_privilege:
        return (
            f"least privilege unavailable on {store.title}: the trainer uses the admin keys "
            "(README, Other S3 servers)"
        )
    from labcore.access import ensure_trainer_user
    from labcore.shards import shards_prefix

    user = ensure_trainer_user(settings)
    if not user:
        return ""  # configured with the admin's own keys: nothing was made, nothing to say
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
