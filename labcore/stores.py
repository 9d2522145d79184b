"""The S3 servers the lab runs and the facts that differ between them: one record per store.

MinIO is the default. The others run in its place (``STORE=seaweedfs make up``): Compose starts
their image as the ``minio`` service, with the override file named here. Seeder, trainer and
loaders speak plain S3 and never ask which store they talk to; what is not plain S3 is told by
the record and done elsewhere:

- least privilege: how far the lab can confine the trainer's keys there (``confinement``); the
  trainer's user is made by ``labcore.access`` through the store's backend in ``labcore.useradmin``;
- server-side request counts for the bench (MinIO's metrics: ``labcore.metrics.get_counter``);
- snowball uploads (MinIO extracts a tar of many objects);
- the key-id rule of the store (``key_id`` and ``key_id_hint``), checked by ``labcore.settings``
  and by the store's backend.

This module imports nothing of the lab's: everything else may import it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


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
    # ``/minio/health/cluster`` answers 503 when too few drives are online to write (distributed
    # MinIO): the trainer names lost write quorum as the cause of a failed write.
    quorum_health: bool = False
    # The form of the access key ids the lab gives the store (None: any), as a pattern and in words
    # for messages. Where ``key_id_binds_admin`` (Garage, whose image imports the admin's key too),
    # the settings check MINIO_ROOT_USER and AWS_ACCESS_KEY_ID when they are read; elsewhere the
    # form binds only the trainer's key, which the store's backend checks when the seeder makes it.
    key_id: re.Pattern | None = None
    key_id_hint: str = ""
    key_id_binds_admin: bool = False

    def takes_key_id(self, key_id: str) -> bool:
        """Whether ``key_id`` has the form of the key ids the lab gives this store."""
        return self.key_id is None or bool(self.key_id.fullmatch(key_id))

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
            quorum_health=True,
            # MinIO's admin API makes users with access keys of 3-20 characters.
            key_id=re.compile(r".{3,20}", re.DOTALL),
            key_id_hint="3-20 characters",
        ),
        Store(
            "seaweedfs",
            "SeaweedFS",
            "github.com/seaweedfs/seaweedfs 7506e5f91cd6 (2026-11-09)",
            confinement="prefix",
            # Its rule for caller-supplied keys (weed/iam/validation.go).
            key_id=re.compile(r"[A-Za-z0-9]{4,128}"),
            key_id_hint="4-128 letters and digits",
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
            key_id=re.compile(r"[A-Za-z0-9._-]{8,}"),
            key_id_hint="8 or more of A-Z a-z 0-9 . _ -, e.g. lab-admin",
            key_id_binds_admin=True,
        ),
    )
}
