"""The S3 calls the lab makes, one test per call, against each store (the matrix's first columns)."""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from minio.error import S3Error

from labcore.settings import load_settings
from trainer.connector import checkpoint_store, export_credentials

MiB = 1024 * 1024


@pytest.mark.capability("CreateBucket")
def test_bucket_create_and_delete(store):
    client = store.client()
    name = f"c-made-{os.getpid()}"
    client.make_bucket(name)
    try:
        assert client.bucket_exists(name)
        assert name in {b.name for b in client.list_buckets()}
    finally:
        client.remove_bucket(name)
    assert not client.bucket_exists(name)


@pytest.mark.capability("PUT, GET, HEAD, DELETE")
def test_put_get_head_delete(store, bucket):
    client = store.client()
    body = os.urandom(3000)
    client.put_object(
        bucket, "mnist/train/3/00001.png", io.BytesIO(body), len(body), content_type="image/png"
    )
    assert client.get_object(bucket, "mnist/train/3/00001.png").read() == body
    head = client.stat_object(bucket, "mnist/train/3/00001.png")
    assert head.size == len(body)
    # The seeder's idempotency rests on this: a single PUT's ETag is the MD5 of its bytes.
    assert head.etag.strip('"') == hashlib.md5(body).hexdigest()
    client.remove_object(bucket, "mnist/train/3/00001.png")
    with pytest.raises(S3Error) as gone:
        client.stat_object(bucket, "mnist/train/3/00001.png")
    assert gone.value.code in ("NoSuchKey", "NotFound")


@pytest.mark.capability("ranged GET")
def test_ranged_get(store, bucket):
    client = store.client()
    body = bytes(range(256)) * 40
    client.put_object(bucket, "blob", io.BytesIO(body), len(body))
    assert client.get_object(bucket, "blob", offset=1000, length=512).read() == body[1000:1512]
    assert client.get_object(bucket, "blob", offset=len(body) - 10).read() == body[-10:]


@pytest.mark.capability("ListObjectsV2 over 1,000 keys")
def test_listing_pages_over_a_thousand_keys(store, bucket):
    """1,050 keys: more than one page (at most 1,000 keys each), every key exactly once, in order."""
    client = store.client()
    keys = [f"mnist/train/{i % 10}/{i:05d}.png" for i in range(1050)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(bucket, k, io.BytesIO(b"x"), 1), keys))
    listed = [o.object_name for o in client.list_objects(bucket, prefix="mnist/train/", recursive=True)]
    assert listed == sorted(keys)
    # A delimiter listing (the trainer's per-label prefixes) pages the same way.
    prefixes = [o.object_name for o in client.list_objects(bucket, prefix="mnist/train/")]
    assert prefixes == [f"mnist/train/{d}/" for d in range(10)]


@pytest.mark.capability("multipart PUT")
def test_multipart_put(store, bucket):
    client = store.client()
    body = os.urandom(12 * MiB)
    client.put_object(bucket, "big", io.BytesIO(body), len(body), part_size=5 * MiB)
    assert client.stat_object(bucket, "big").size == len(body)
    assert hashlib.sha256(client.get_object(bucket, "big").read()).digest() == hashlib.sha256(body).digest()


@pytest.mark.capability("S3Checkpoint (connector multipart with checksums)")
def test_connector_checkpoint_round_trip(store, bucket):
    """The connector's own writer (the CRT's multipart upload with checksums) and reader."""
    settings = load_settings(environ=store.env(bucket))
    export_credentials(settings)
    checkpoint = checkpoint_store(settings)
    body = os.urandom(20 * MiB)  # over the CRT's 8 MiB part size: several parts
    with checkpoint.writer(f"s3://{bucket}/checkpoints/c/step-1.pt") as writer:
        writer.write(body)
    with checkpoint.reader(f"s3://{bucket}/checkpoints/c/step-1.pt") as reader:
        assert reader.read() == body
