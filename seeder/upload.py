"""Uploading a dataset as one PNG object per sample, idempotently and in parallel."""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from tqdm import tqdm

from labcore.errors import StoreError
from labcore.layout import sample_key, split_prefix
from labcore.png import encode_png
from labcore.sources import Split


@dataclass
class SeedReport:
    """What a seed run did; ``line()`` is the closing summary."""

    bucket: str
    prefix: str
    counts: dict[str, int] = field(default_factory=dict)
    uploaded: int = 0
    skipped: int = 0
    stale: int = 0
    pruned: int = 0
    bytes_uploaded: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        splits = ", ".join(f"{name} {count}" for name, count in self.counts.items())
        rate = self.uploaded / self.seconds if self.seconds > 0 else 0.0
        text = (
            f"seeded s3://{self.bucket}/{self.prefix}/ ({splits}): uploaded {self.uploaded}, "
            f"skipped {self.skipped} already there, {self.bytes_uploaded / 1e6:.1f} MB in "
            f"{self.seconds:.1f} s, {rate:.0f} objects/s"
        )
        if self.pruned:
            text += f", pruned {self.pruned} stale"
        elif self.stale:
            text += f"; {self.stale} other objects under the split prefixes (--prune deletes them)"
        return text


def ensure_bucket(client: Minio, bucket: str) -> None:
    """Create ``bucket`` unless it exists; a concurrent creator is not an error."""
    if client.bucket_exists(bucket):
        return
    try:
        client.make_bucket(bucket)
    except S3Error as exc:
        if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def existing_etags(client: Minio, bucket: str, prefix: str) -> dict[str, str]:
    """Key -> ETag (quotes stripped) of every object under ``prefix``."""
    return {
        obj.object_name: (obj.etag or "").strip('"')
        for obj in client.list_objects(bucket, prefix=prefix, recursive=True)
        if obj.object_name is not None
    }


def _planned(splits: Iterable[Split], prefix: str, limit: int | None) -> Iterator[tuple[str, bytes]]:
    for split in splits:
        for index in range(min(len(split), limit) if limit else len(split)):
            label, pixels = split.sample(index)
            yield sample_key(prefix, split.name, label, index), encode_png(pixels, split.rows, split.cols)


def seed(
    client: Minio,
    bucket: str,
    prefix: str,
    splits: list[Split],
    *,
    limit: int | None = None,
    workers: int = 16,
    prune: bool = False,
    progress: bool = True,
) -> SeedReport:
    """Upload every sample of ``splits`` (the first ``limit`` of each) under ``prefix``.

    An object that is already there with the same bytes (single-part ETag = MD5) is skipped, so a
    re-run uploads nothing and an interrupted run, re-run, converges to the same bucket. A PUT is
    atomic in S3, so a killed seeder never leaves a partial object behind.
    """
    started = time.monotonic()
    report = SeedReport(bucket=bucket, prefix=prefix)
    ensure_bucket(client, bucket)
    present: dict[str, str] = {}
    for split in splits:
        present.update(existing_etags(client, bucket, split_prefix(prefix, split.name)))
        report.counts[split.name] = min(len(split), limit) if limit else len(split)
    total = sum(report.counts.values())
    wanted: set[str] = set()

    def put(key: str, body: bytes) -> int:
        client.put_object(bucket, key, io.BytesIO(body), len(body), content_type="image/png")
        return len(body)

    # Bounded in-flight work: the encoder must not run ahead of the uploads by a whole split.
    in_flight: set[Future[int]] = set()
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="put") as pool,
        tqdm(total=total, unit="obj", desc="seeding", disable=not progress, mininterval=1.0) as bar,
    ):

        def settle(block_until: int) -> None:
            nonlocal in_flight
            while len(in_flight) > block_until:
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    report.bytes_uploaded += future.result()
                    report.uploaded += 1
                    bar.update(1)

        try:
            for key, body in _planned(splits, prefix, limit):
                wanted.add(key)
                if present.get(key) == hashlib.md5(body, usedforsecurity=False).hexdigest():
                    report.skipped += 1
                    bar.update(1)
                    continue
                in_flight.add(pool.submit(put, key, body))
                settle(block_until=workers * 4)
            settle(block_until=0)
        except BaseException:
            for future in in_flight:
                future.cancel()
            raise

    stale = sorted(set(present) - wanted)
    report.stale = len(stale)
    if prune and stale:
        errors = list(client.remove_objects(bucket, (DeleteObject(k) for k in stale)))
        if errors:
            raise StoreError(f"could not delete {len(errors)} stale objects, first: {errors[0]}")
        report.pruned = len(stale)
    report.seconds = time.monotonic() - started
    return report
