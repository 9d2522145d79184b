"""Uploading a dataset, as one PNG object per sample or as tar shards, idempotently and in parallel."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from tqdm import tqdm

from labcore.clients import read_json
from labcore.errors import DataError, StoreError
from labcore.layout import index_width, parse_key, sample_key, split_prefix
from labcore.manifest import parse_manifest
from labcore.shards import manifest_key, member_bytes, shard_key, write_shard
from labcore.sources import SeedSplit
from seeder.snowball import batch_objects, batches, check_extracted
from seeder.snowball import put_tar as snowball_put


@dataclass
class SeedReport:
    """What a seed run did; ``line()`` is the closing summary."""

    bucket: str
    prefix: str
    counts: dict[str, int] = field(default_factory=dict)
    objects: dict[str, int] = field(default_factory=dict)
    uploaded: int = 0
    skipped: int = 0
    stale: int = 0
    pruned: int = 0
    bytes_uploaded: int = 0
    seconds: float = 0.0
    # Snowball tars the uploaded objects went in (SEED_UPLOAD=snowball; 0 with PUTs).
    tars: int = 0

    def line(self) -> str:
        def split_text(name: str, count: int) -> str:
            objects = self.objects.get(name, count)
            return f"{name} {count}" if objects == count else f"{name} {count} in {objects} shards"

        splits = ", ".join(split_text(name, count) for name, count in self.counts.items())
        rate = self.uploaded / self.seconds if self.seconds > 0 else 0.0
        text = (
            f"seeded s3://{self.bucket}/{self.prefix}/ ({splits}): uploaded {self.uploaded}, "
            f"skipped {self.skipped} already there, {self.bytes_uploaded / 1e6:.1f} MB in "
            f"{self.seconds:.1f} s, {rate:.0f} objects/s"
        )
        if self.tars:
            text += f" in {self.tars} snowball tars"
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


def checksums_key(prefix: str) -> str:
    """Where the seeder keeps what it uploaded, beside the split prefixes (never inside them)."""
    return f"{prefix.strip('/')}/checksums.json"


def read_checksums(client: Minio, bucket: str, prefix: str) -> dict[str, dict]:
    """``key -> {"sha256", "etag"}`` as the last seed recorded them (empty before the first).

    A damaged record (not JSON, another shape, an entry without its SHA-256) is rebuilt by this
    run: it only saves uploads, it proves nothing.
    """
    try:
        recorded = (read_json(client, bucket, checksums_key(prefix)) or {}).get("objects", {})
    except DataError:
        return {}
    if not isinstance(recorded, dict):
        return {}
    return {
        key: entry
        for key, entry in recorded.items()
        if isinstance(entry, dict)
        and isinstance(entry.get("sha256"), str)
        and isinstance(entry.get("etag"), str | None)
    }


def write_checksums(client: Minio, bucket: str, prefix: str, recorded: dict[str, dict]) -> None:
    body = json.dumps({"objects": dict(sorted(recorded.items()))}, indent=1).encode()
    client.put_object(
        bucket, checksums_key(prefix), io.BytesIO(body), len(body), content_type="application/json"
    )


def md5_hex(body: bytes) -> str:
    """The ETag S3 gives a single-part upload of ``body``."""
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def _take(split: SeedSplit, limit: int | None) -> int:
    return min(len(split), limit) if limit else len(split)


def _per_shard(split: SeedSplit, shard_size: int, shard_bytes: int) -> int:
    """Samples per shard, as far as known before encoding (the progress bar's total)."""
    if split.object_size is None:
        return shard_size
    return max(1, min(shard_size, shard_bytes // member_bytes(split.object_size)))


Item = tuple[str, bytes, str]  # key, body, content type


def _upload(
    client: Minio,
    bucket: str,
    items: Iterator[Item],
    present: dict[str, str],
    report: SeedReport,
    *,
    workers: int,
    total: int,
    progress: bool,
    known: dict[str, dict],
    upload: str = "put",
) -> dict[str, dict]:
    """Upload each ``(key, body, content type)`` unless the bucket already has those bytes there.

    The bytes are there when the listed ETag is the body's MD5 (a single-part upload), or when
    ``known`` (the last seed's checksums) has the body's SHA-256 with the ETag still listed:
    multipart uploads (shards over 5 MiB) have ETags that are no MD5. Returns the checksums of
    every key seen, to be written for the next run.

    ``upload="put"`` PUTs each object; a PUT is atomic in S3, so a killed seeder never leaves a
    partial object behind. ``upload="snowball"`` PUTs the objects in tars that MinIO extracts into
    the same objects (seeder.snowball); each member is stored like a PUT of its own. Either way a
    re-run uploads only what is missing or different.
    """
    uploader = _Uploader(client, bucket, present, known, report, snowball=upload == "snowball")
    with tqdm(total=total, unit="obj", desc="seeding", disable=not progress, mininterval=1.0) as bar:
        uploader.run(items, bar, workers=workers, total=total)
    return uploader.finish()


class _Uploader:
    """One seed's uploads: what to skip, the PUTs or tars in flight, and the checksums to record."""

    def __init__(self, client: Minio, bucket: str, present, known, report: SeedReport, *, snowball: bool):
        self.client, self.bucket, self.present, self.known = client, bucket, present, known
        self.report, self.snowball = report, snowball
        self.recorded: dict[str, dict] = {}
        # Extracted objects' ETags come from a listing, not from the tar's PUT: MinIO gives them
        # the MD5 of their bytes (checked on the first tar), else they are listed after the upload.
        self.relist: list[str] = []

    def unchanged(self, key: str, body: bytes, sha256: str) -> bool:
        etag, last = self.present.get(key), self.known.get(key, {})
        if etag is None:
            return False
        return etag == md5_hex(body) or (last.get("sha256") == sha256 and last.get("etag") in (etag, None))

    def changed(self, items: Iterator[Item], bar: tqdm) -> Iterator[Item]:
        for key, body, content_type in items:
            sha256 = hashlib.sha256(body).hexdigest()
            self.recorded[key] = {"sha256": sha256, "etag": self.present.get(key)}
            if self.unchanged(key, body, sha256):
                self.report.skipped += 1
                bar.update(1)
                continue
            yield key, body, content_type

    def put(self, batch: list[Item]) -> list[Item]:
        for key, body, content_type in batch:
            result = self.client.put_object(
                self.bucket, key, io.BytesIO(body), len(body), content_type=content_type
            )
            self.recorded[key]["etag"] = (result.etag or "").strip('"')
        return batch

    def put_tar(self, batch: list[Item], probe: bool = False) -> list[Item]:
        tar = snowball_put(self.client, self.bucket, [(key, body) for key, body, _ in batch])
        if probe:
            key, body, _ = batch[0]
            if check_extracted(self.client, self.bucket, tar, key) != md5_hex(body):
                self.relist.append(key)
        for key, body, _ in batch:
            self.recorded[key]["etag"] = md5_hex(body)
        return batch

    def account(self, batch: list[Item], bar: tqdm) -> None:
        self.report.uploaded += len(batch)
        self.report.tars += self.snowball
        self.report.bytes_uploaded += sum(len(body) for _, body, _ in batch)
        bar.update(len(batch))

    def batches(
        self, pending: Iterator[Item], bar: tqdm, *, workers: int, total: int
    ) -> Iterable[list[Item]]:
        if not self.snowball:
            return ([item] for item in pending)
        # One object alone first: a server that cannot extract gets one small tar, not many.
        first = list(itertools.islice(pending, 1))
        if first:
            self.account(self.put_tar(first, probe=True), bar)
        return batches(pending, lambda item: len(item[1]), max_objects=batch_objects(total, workers))

    def run(self, items: Iterator[Item], bar: tqdm, *, workers: int, total: int) -> None:
        # Bounded in-flight work: encoding must not run ahead of the uploads by a whole split.
        limit = workers * (2 if self.snowball else 4)
        send = self.put_tar if self.snowball else self.put
        in_flight: set[Future[list[Item]]] = set()

        def settle(block_until: int) -> None:
            nonlocal in_flight
            while len(in_flight) > block_until:
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    self.account(future.result(), bar)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="put") as pool:
            try:
                for batch in self.batches(self.changed(items, bar), bar, workers=workers, total=total):
                    in_flight.add(pool.submit(send, batch))
                    settle(block_until=limit)
                settle(block_until=0)
            except BaseException:
                for future in in_flight:
                    future.cancel()
                raise

    def finish(self) -> dict[str, dict]:
        """The checksums to record, with the ETags of extracted objects listed where they were no MD5."""
        if self.relist:
            listed = existing_etags(self.client, self.bucket, os.path.commonprefix(sorted(self.recorded)))
            for key, entry in self.recorded.items():
                entry["etag"] = listed.get(key, entry["etag"])
        return self.recorded


def _prune(client: Minio, bucket: str, stale: list[str], report: SeedReport, prune: bool) -> None:
    report.stale = len(stale)
    if prune and stale:
        errors = list(client.remove_objects(bucket, (DeleteObject(k) for k in stale)))
        if errors:
            raise StoreError(f"could not delete {len(errors)} stale objects, first: {errors[0]}")
        report.pruned = len(stale)


def seed(
    client: Minio,
    bucket: str,
    prefix: str,
    splits: list[SeedSplit],
    *,
    limit: int | None = None,
    workers: int = 16,
    prune: bool = False,
    progress: bool = True,
    upload: str = "put",
    pngs: Mapping[tuple[str, int], bytes] | None = None,
) -> SeedReport:
    """Upload every sample of ``splits`` (the first ``limit`` of each) as one object per sample.

    ``upload`` is ``put`` (one PUT per object) or ``snowball`` (tars MinIO extracts; see
    seeder.snowball). ``pngs`` maps ``(split, index)`` to the sample's PNG, already encoded with
    :func:`labcore.png.encode_png` (seeder.bench times the upload alone); by default each split
    encodes its samples here (``split.encoded``: a PNG, or a synthetic object's bytes).
    """
    started = time.monotonic()
    report = SeedReport(bucket=bucket, prefix=prefix)
    ensure_bucket(client, bucket)
    present: dict[str, str] = {}
    for split in splits:
        present.update(existing_etags(client, bucket, split_prefix(prefix, split.name)))
        report.counts[split.name] = _take(split, limit)

    def items() -> Iterator[tuple[str, bytes, str]]:
        for split in splits:
            width = index_width(len(split))
            for index in range(_take(split, limit)):
                if pngs is not None:
                    label, body = split.label(index), pngs[split.name, index]
                else:
                    label, body = split.encoded(index)
                key = sample_key(prefix, split.name, label, index, extension=split.extension, width=width)
                yield key, body, split.content_type

    foreign = _other_dataset(present, splits, limit)
    if foreign and not prune:
        raise DataError(
            f"s3://{bucket}/{prefix}/ already holds another dataset ({len(foreign)} samples under other "
            f"labels than this source's, e.g. {foreign[0]}): add --prune to replace it, or seed into "
            "another DATA_PREFIX"
        )
    total = sum(report.counts.values())
    known = read_checksums(client, bucket, prefix)
    recorded = _upload(
        client,
        bucket,
        items(),
        present,
        report,
        workers=workers,
        total=total,
        progress=progress,
        known=known,
        upload=upload,
    )
    write_checksums(client, bucket, prefix, recorded)
    _prune(client, bucket, sorted(set(present) - set(recorded)), report, prune)
    report.seconds = time.monotonic() - started
    return report


def _other_dataset(present: Iterable[str], splits: list[SeedSplit], limit: int | None) -> list[str]:
    """Keys of samples this source also has, under another label: a different dataset's.

    Keys beyond this source's ``limit`` are left alone (a smaller ``--limit`` of the same data).
    """
    by_name = {split.name: split for split in splits}
    foreign = []
    for key in present:
        try:
            parts = parse_key(key)
        except ValueError:
            continue
        split = by_name.get(parts.split)
        if (
            split is not None
            and parts.index < _take(split, limit)
            and (parts.extension != split.extension or split.label(parts.index) != parts.label)
        ):
            foreign.append(key)
    return sorted(foreign)


def _adopted_shards(client: Minio, bucket: str, prefix: str) -> dict[str, dict]:
    """Checksums of shards seeded before the seeder kept ``checksums.json``: from their manifest.

    The manifest is written after every shard it lists is complete, so its SHA-256s describe the
    shards in the bucket; the ETag is not compared (``None``) because it was never recorded.
    """
    key = manifest_key(prefix)
    try:
        splits = parse_manifest(read_json(client, bucket, key) or {"splits": {}}, f"s3://{bucket}/{key}")
    except DataError:
        return {}  # a damaged manifest saves no uploads; this run writes a new one
    return {
        shard.key: {"sha256": shard.sha256, "etag": None}
        for entry in splits.values()
        for shard in entry.shards
    }


def _shards_of(
    split: SeedSplit, count: int, shard_size: int, shard_bytes: int
) -> Iterator[list[tuple[int, int, bytes]]]:
    """The first ``count`` samples as ``(index, label, body)`` runs, one per shard, in order.

    A shard closes at ``shard_size`` samples, or before a sample that would take its members past
    ``shard_bytes`` (a sample larger than that alone makes a shard of its own).
    """
    samples: list[tuple[int, int, bytes]] = []
    size = 0
    for index in range(count):
        label, body = split.encoded(index)
        if samples and (len(samples) == shard_size or size + member_bytes(len(body)) > shard_bytes):
            yield samples
            samples, size = [], 0
        samples.append((index, label, body))
        size += member_bytes(len(body))
    if samples:
        yield samples


def seed_shards(
    client: Minio,
    bucket: str,
    prefix: str,
    splits: list[SeedSplit],
    *,
    shard_size: int = 1000,
    shard_bytes: int = 64 << 20,
    limit: int | None = None,
    workers: int = 16,
    prune: bool = False,
    progress: bool = True,
) -> SeedReport:
    """Upload ``splits`` as tar shards, then the manifest, then prune.

    A shard holds ``shard_size`` samples, fewer where they would take it past ``shard_bytes``.

    The manifest (shards, sample counts, SHA-256 of each shard) is switched after every shard it
    lists is complete, and shards carry their content in their names (``shard_key``), so a seeder
    stopped at any point leaves a manifest whose shards are all there as it lists them; with
    ``prune`` the shards of the old manifest are deleted only after the new one is in.
    """
    started = time.monotonic()
    report = SeedReport(bucket=bucket, prefix=prefix)
    ensure_bucket(client, bucket)
    present: dict[str, str] = {}
    manifest: dict = {
        "format": "tar",
        "member": f"<index>.<label>.{splits[0].extension if splits else 'png'}",
        "shard_size": shard_size,
        "shard_bytes": shard_bytes,
        "splits": {},
    }
    for split in splits:
        present.update(existing_etags(client, bucket, split_prefix(prefix, split.name)))
        count = _take(split, limit)
        report.counts[split.name] = count
        report.objects[split.name] = -(-count // _per_shard(split, shard_size, shard_bytes))
        manifest["splits"][split.name] = {"samples": count, "shards": []}

    def items() -> Iterator[tuple[str, bytes, str]]:
        for split in splits:
            entries = manifest["splits"][split.name]["shards"]
            runs = _shards_of(split, report.counts[split.name], shard_size, shard_bytes)
            for number, samples in enumerate(runs):
                body = write_shard(samples, split.extension)
                sha256 = hashlib.sha256(body).hexdigest()
                key = shard_key(prefix, split.name, number, sha256)
                entries.append({"key": key, "samples": len(samples), "sha256": sha256})
                yield key, body, "application/x-tar"
            report.objects[split.name] = len(entries)

    total = sum(report.objects.values())
    known = read_checksums(client, bucket, prefix) or _adopted_shards(client, bucket, prefix)
    recorded = _upload(
        client, bucket, items(), present, report, workers=workers, total=total, progress=progress, known=known
    )
    write_checksums(client, bucket, prefix, recorded)
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    key = manifest_key(prefix)
    try:
        unchanged = client.stat_object(bucket, key).etag.strip('"') == md5_hex(body)
    except S3Error as exc:
        if exc.code != "NoSuchKey":
            raise
        unchanged = False
    if not unchanged:
        client.put_object(bucket, key, io.BytesIO(body), len(body), content_type="application/json")
    # Only now do the old shards go: until the new manifest is in, the old one names them.
    _prune(client, bucket, sorted(set(present) - set(recorded)), report, prune)
    report.seconds = time.monotonic() - started
    return report
