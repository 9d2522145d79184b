"""Many small objects in one PUT: a tar that MinIO extracts into its members ("snowball").

minio-py's ``upload_snowball_objects`` writes the objects into an in-memory tar and PUTs it as
``snowball.<random>.tar`` with ``X-Amz-Meta-Snowball-Auto-Extract: true``; MinIO then stores each
member as its own object (ETag the MD5 of its bytes, content type from its extension, ``.png`` ->
``image/png``) and never the tar. Any other S3 server stores the tar as one object, which
:func:`check_extracted` notices after the first batch, deletes, and reports in one line.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from minio import Minio
from minio.commonconfig import SnowballObject
from minio.error import S3Error

from labcore.errors import StoreError

# A batch is at most this many objects or bytes of object bodies (MNIST: ~1,000 PNGs are ~1 MB).
MAX_OBJECTS = 1000
MAX_BYTES = 16 * 1024 * 1024
# Below this many objects per tar, the per-request cost is back (the point of snowball is to pay it
# once for many objects).
MIN_OBJECTS = 50

T = TypeVar("T")


def batch_objects(total: int, workers: int) -> int:
    """Objects per tar so that ``total`` objects keep ``workers`` uploads busy: at most MAX_OBJECTS.

    MinIO extracts a tar's members one after another, so a single big tar is as slow as one worker;
    ``total / workers`` per tar gives every worker a tar, and the bounds keep tars neither tiny nor
    too large to hold in memory.
    """
    return max(MIN_OBJECTS, min(MAX_OBJECTS, math.ceil(max(total, 1) / max(workers, 1))))


def batches(
    items: Iterable[T],
    size: Callable[[T], int],
    *,
    max_objects: int = MAX_OBJECTS,
    max_bytes: int = MAX_BYTES,
) -> Iterator[list[T]]:
    """Consecutive runs of ``items`` of at most ``max_objects`` items and ``max_bytes`` bytes.

    An item larger than ``max_bytes`` on its own still goes, alone in its batch. Lazy: only the
    batch being filled is held, so memory stays bounded however many items there are.
    """
    if max_objects < 1 or max_bytes < 1:
        raise ValueError(f"batches need room for one item, not {max_objects} objects / {max_bytes} bytes")
    batch: list[T] = []
    used = 0
    for item in items:
        n = size(item)
        if batch and (len(batch) >= max_objects or used + n > max_bytes):
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += n
    if batch:
        yield batch


def put_tar(client: Minio, bucket: str, objects: list[tuple[str, bytes]]) -> str:
    """PUT ``(key, body)`` pairs as one auto-extracted tar; returns the tar's own object name."""
    result = client.upload_snowball_objects(
        bucket,
        (SnowballObject(key, data=io.BytesIO(body), length=len(body)) for key, body in objects),
    )
    return result.object_name


def not_extracted(bucket: str, tar: str) -> str:
    return (
        f"s3://{bucket} stored the snowball tar {tar} as one object instead of extracting it "
        "(snowball upload needs MinIO's auto-extract): use SEED_UPLOAD=put"
    )


def check_extracted(client: Minio, bucket: str, tar: str, key: str) -> str:
    """Make sure the server extracted the tar ``tar`` (which held ``key``); return ``key``'s ETag.

    MinIO never stores an auto-extracted tar. A server without the feature stores it as an object:
    that object is deleted again (the bucket stays as it was) and :class:`StoreError` says what to use.
    """
    try:
        client.stat_object(bucket, tar)
    except S3Error as exc:
        if exc.code != "NoSuchKey":
            raise
    else:
        client.remove_object(bucket, tar)
        raise StoreError(not_extracted(bucket, tar))
    try:
        stat = client.stat_object(bucket, key)
    except S3Error as exc:
        if exc.code != "NoSuchKey":
            raise
        raise StoreError(
            f"s3://{bucket} accepted a snowball tar but {key}, one of its objects, is not there: "
            "use SEED_UPLOAD=put"
        ) from None
    return (stat.etag or "").strip('"')
