"""SEED_UPLOAD=snowball against a real MinIO: the same objects as PUTs, idempotent, one-line refusals."""

from __future__ import annotations

import io
import re
import tarfile

import pytest

from labcore.clients import minio_client, opened
from labcore.errors import StoreError
from labcore.sources import load_split
from seeder.snowball import check_extracted
from seeder.upload import ensure_bucket, read_checksums, seed
from tests.conftest import run_module

# Enough samples for several tars in flight at once (90 objects per tar with 4 workers).
COUNTS = {"train": 300, "test": 61}
TOTAL = sum(COUNTS.values())


def stored(client, bucket: str) -> dict[str, tuple[str, bytes, str]]:
    """Every object: key -> (ETag, bytes, content type)."""
    objects = {}
    for obj in client.list_objects(bucket, recursive=True):
        with opened(client, bucket, obj.object_name) as response:
            objects[obj.object_name] = (obj.etag, response.read(), response.headers["Content-Type"])
    return objects


def test_snowball_stores_exactly_what_puts_store(seed_bucket, lab_env, lab_settings):
    by_put, by_snowball = lab_settings.bucket, lab_settings.bucket + "-snow"

    seeded = seed_bucket(COUNTS, workers=4, upload="put", env=lab_env)
    client, put = seeded.client, seeded.report
    snowball = seeded.seed_again(by_snowball, workers=4, upload="snowball")

    assert (put.uploaded, put.tars) == (TOTAL, 0)
    assert (snowball.uploaded, snowball.skipped, snowball.bytes_uploaded) == (TOTAL, 0, put.bytes_uploaded)
    # One single-object probe tar, then tars of 90: more than one tar, each far below the bound.
    assert snowball.tars == 1 + -(-(TOTAL - 1) // 90)
    assert f"in {snowball.tars} snowball tars" in snowball.line()

    expected, got = stored(client, by_put), stored(client, by_snowball)
    pngs = {k for k in expected if k.endswith(".png")}
    assert len(pngs) == TOTAL and set(expected) == pngs | {"mnist/checksums.json"}
    # Same keys; for every sample the same ETag (the MD5 of the bytes), bytes and content type.
    # No tar is left in the bucket: MinIO extracted each one.
    assert set(got) == set(expected)
    for key in pngs:
        assert got[key] == expected[key], key
        assert got[key][2] == "image/png"
    # And the same record of what was uploaded, so either mode's next run skips everything.
    assert read_checksums(client, by_snowball, "mnist") == read_checksums(client, by_put, "mnist")


def test_snowball_reruns_upload_nothing_and_modes_mix(make_dataset, lab_env, lab_settings, tmp_path):
    directory, _ = make_dataset(COUNTS)
    client = minio_client(lab_settings)
    args = ["--source", str(directory), "--no-progress", "--workers", "4"]

    first = run_module("seeder", [*args, "--upload", "snowball"], lab_env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert re.search(
        rf"uploaded {TOTAL}, skipped 0 already there, .* in \d+ snowball tars$", first.stdout.strip()
    )
    before = {
        o.object_name: (o.etag, o.last_modified)
        for o in client.list_objects(lab_settings.bucket, recursive=True)
    }

    splits = [load_split(directory, name) for name in COUNTS]
    again = seed(client, lab_settings.bucket, "mnist", splits, workers=4, progress=False, upload="snowball")
    assert (again.uploaded, again.skipped, again.tars, again.bytes_uploaded) == (0, TOTAL, 0, 0)
    by_put = run_module("seeder", args, {**lab_env, "SEED_UPLOAD": "put"}, tmp_path)
    assert f"uploaded 0, skipped {TOTAL} already there" in by_put.stdout, by_put.stderr
    after = {
        o.object_name: (o.etag, o.last_modified)
        for o in client.list_objects(lab_settings.bucket, recursive=True)
    }
    # Not one sample rewritten; the record (rewritten by every run) has the same bytes.
    assert {k: v for k, v in after.items() if k.endswith(".png")} == {
        k: v for k, v in before.items() if k.endswith(".png")
    }
    assert after["mnist/checksums.json"][0] == before["mnist/checksums.json"][0]


def test_snowball_converges_after_partial_and_damaged_seeds(seed_bucket, lab_env, lab_settings):
    reference = lab_settings.bucket + "-ref"
    seeded = seed_bucket(COUNTS, workers=4, upload="put", env={**lab_env, "BUCKET": reference})
    client = seeded.client
    wanted = {o.object_name: o.etag for o in client.list_objects(reference, recursive=True)}

    bucket = lab_settings.bucket
    partial = seeded.seed_again(bucket, workers=4, upload="snowball", limit=40)
    assert partial.uploaded == 80
    keys = sorted(k for k in wanted if k.endswith(".png") and k.startswith("mnist/train/"))
    present = {o.object_name for o in client.list_objects(bucket, recursive=True)}
    damaged, deleted = [k for k in keys if k in present][:2]
    client.put_object(bucket, damaged, io.BytesIO(b"garbage"), 7)
    client.remove_object(bucket, deleted)

    report = seeded.seed_again(bucket, workers=4, upload="snowball")
    # Everything missing or different went up again; the 78 intact samples did not.
    assert (report.uploaded, report.skipped) == (TOTAL - 78, 78)
    listed = {o.object_name: o.etag for o in client.list_objects(bucket, recursive=True)}
    assert {k: v for k, v in listed.items() if k.endswith(".png")} == {
        k: v for k, v in wanted.items() if k.endswith(".png")
    }


def test_a_server_that_stores_the_tar_gets_one_line_and_no_tar(lab_settings):
    """What S3 servers without MinIO's auto-extract do: keep the tar as an object. The real check
    is fed that bucket state: it deletes the tar and says what to use instead."""
    client = minio_client(lab_settings)
    bucket = lab_settings.bucket
    ensure_bucket(client, bucket)
    body = io.BytesIO()
    with tarfile.open(fileobj=body, mode="w") as tar:
        info = tarfile.TarInfo("mnist/train/3/00000.png")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"png"))
    name = "snowball.0.123.tar"
    client.put_object(bucket, name, io.BytesIO(body.getvalue()), len(body.getvalue()))

    with pytest.raises(StoreError) as caught:
        check_extracted(client, bucket, name, "mnist/train/3/00000.png")
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        f"s3://{bucket} stored the snowball tar {name} as one object instead of extracting it "
        "(snowball upload needs MinIO's auto-extract): use SEED_UPLOAD=put"
    )
    assert list(client.list_objects(bucket, recursive=True)) == []
