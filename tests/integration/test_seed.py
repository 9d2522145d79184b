"""The seeder against a real MinIO server."""

from __future__ import annotations

import io

import pytest
from minio.deleteobjects import DeleteObject

from labcore.clients import minio_client, opened
from labcore.layout import sample_key
from labcore.png import decode_png
from labcore.sources import load_split
from seeder.upload import checksums_key, read_checksums, seed, seed_shards
from tests.conftest import assert_one_line_error, run_module

COUNTS = {"train": 37, "test": 11}  # neither divides evenly by typical worker counts


def listing(client, bucket: str) -> dict[str, str]:
    return {o.object_name: o.etag for o in client.list_objects(bucket, recursive=True)}


def test_every_key_and_its_pixels(seed_bucket, lab_env, lab_settings):
    seeded = seed_bucket(COUNTS, workers=4, env=lab_env)
    client, samples, report = seeded.client, seeded.samples, seeded.report
    assert (report.uploaded, report.skipped) == (48, 0)
    expected = {
        sample_key("mnist", split, label, index): pixels
        for split, items in samples.items()
        for index, (label, pixels) in enumerate(items)
    }
    stored = listing(client, lab_settings.bucket)
    # Every sample, and beside the splits the seeder's record of what it uploaded.
    assert set(stored) == set(expected) | {"mnist/checksums.json"}
    for key, pixels in expected.items():
        with opened(client, lab_settings.bucket, key) as response:
            assert decode_png(response.read()) == (28, 28, pixels), key
            assert response.headers["Content-Type"] == "image/png"


def test_reseed_uploads_nothing(seed_bucket, lab_env, lab_settings):
    seeded = seed_bucket(COUNTS, env=lab_env)
    client = seeded.client
    before = listing(client, lab_settings.bucket)
    again = seeded.seed_again()
    assert (again.uploaded, again.skipped, again.bytes_uploaded) == (0, 48, 0)
    assert listing(client, lab_settings.bucket) == before
    assert "uploaded 0, skipped 48" in again.line()


def test_interrupted_and_damaged_seeds_converge(seed_bucket, lab_settings, lab_env):
    # A reference bucket seeded in one go.
    seeded = seed_bucket(COUNTS, workers=1, env=lab_env)
    client, reference = seeded.client, seeded.report
    wanted = listing(client, lab_settings.bucket)
    assert reference.uploaded == 48

    # A second bucket: a partial run (as if killed), one object damaged, one deleted, one foreign.
    other = lab_settings.bucket + "-b"
    seeded.seed_again(other, limit=5)
    keys = sorted(k for k in listing(client, other) if k.endswith(".png"))
    client.put_object(other, keys[0], io.BytesIO(b"garbage"), 7)
    # The seeder's record is only a shortcut: a damaged one is rebuilt, not trusted.
    client.put_object(other, "mnist/checksums.json", io.BytesIO(b"{truncated"), 10)
    client.remove_object(other, keys[1])
    client.put_object(other, "mnist/train/3/99999.png", io.BytesIO(b"x"), 1)

    resumed = seeded.seed_again(other, workers=8)
    assert resumed.uploaded == 48 - 10 + 2  # everything but the 8 intact ones from the partial run
    assert resumed.stale == 1
    converged = listing(client, other)
    assert {k: v for k, v in converged.items() if k != "mnist/train/3/99999.png"} == wanted

    pruned = seeded.seed_again(other, prune=True)
    assert (pruned.uploaded, pruned.pruned) == (0, 1)
    assert listing(client, other) == wanted
    client.remove_objects(other, [DeleteObject(k) for k in wanted])


@pytest.mark.parametrize("record", [b'{"objects": []}', b'{"objects": {"mnist/train/0/00000.png": 5}}'])
def test_a_record_of_another_shape_is_rebuilt(seed_bucket, lab_env, lab_settings, record):
    seeded = seed_bucket(COUNTS, env=lab_env)
    client = seeded.client
    client.put_object(lab_settings.bucket, "mnist/checksums.json", io.BytesIO(record), len(record))
    again = seeded.seed_again()
    # Nothing was uploaded again (the ETags still match), and the record is whole once more.
    assert (again.uploaded, again.skipped) == (0, 48)
    assert len(read_checksums(client, lab_settings.bucket, "mnist")) == 48


def test_cli_seeds_and_reports(make_dataset, lab_env, tmp_path):
    directory, _ = make_dataset(COUNTS)
    args = ["--source", str(directory), "--limit", "20", "--no-progress"]
    first = run_module("seeder", args, lab_env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert (
        f"seeded s3://{lab_env['BUCKET']}/mnist/ (train 20, test 11): uploaded 31, skipped 0" in first.stdout
    )
    second = run_module("seeder", args, lab_env, tmp_path)
    assert "uploaded 0, skipped 31 already there" in second.stdout


@pytest.mark.parametrize("damage", ["truncated", "not-gzip", "wrong-shape"])
def test_corrupt_source_fails_clearly_and_uploads_nothing(
    make_dataset, lab_env, lab_settings, tmp_path, damage
):
    directory, _ = make_dataset(COUNTS)
    victim = directory / "train-images-idx3-ubyte.gz"
    data = victim.read_bytes()
    if damage == "truncated":
        victim.write_bytes(data[: len(data) // 3])
    elif damage == "not-gzip":
        victim.write_bytes(b"<html>404 not found</html>")
    else:
        import gzip

        from tests.conftest import idx_bytes

        victim.write_bytes(gzip.compress(idx_bytes((5, 28), bytes(140))))
    result = run_module("seeder", ["--source", str(directory), "--no-progress"], lab_env, tmp_path)
    assert_one_line_error(result, 1, r"train-images-idx3-ubyte\.gz: ")
    client = minio_client(lab_settings)
    assert not client.bucket_exists(lab_settings.bucket) or not listing(client, lab_settings.bucket)


def test_wrong_credentials_are_one_line(lab_env, tmp_path):
    result = run_module(
        "seeder", ["--source", str(tmp_path)], {**lab_env, "MINIO_ROOT_PASSWORD": "not-the-secret"}, tmp_path
    )
    assert_one_line_error(result, 2, r"rejected MINIO_ROOT_PASSWORD for MINIO_ROOT_USER='lab-test-admin'")
    result = run_module(
        "seeder", ["--source", str(tmp_path)], {**lab_env, "MINIO_ROOT_USER": "nobody"}, tmp_path
    )
    assert_one_line_error(result, 2, r"does not know MINIO_ROOT_USER='nobody'")


def test_checksum_failure_through_the_cli(lab_env, tmp_path):
    # The download path end to end: a mirror on loopback that serves files which are not MNIST.
    import http.server
    import threading

    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "train-images-idx3-ubyte.gz").write_bytes(b"not mnist")
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "www"), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            **lab_env,
            "MNIST_MIRRORS": f"http://127.0.0.1:{server.server_address[1]}/",
            "MNIST_CACHE_DIR": str(tmp_path / "cache"),
        }
        result = run_module("seeder", ["--source", "mnist", "--no-progress"], env, tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert_one_line_error(
        result, 1, r"could not download train-images-idx3-ubyte\.gz .*SHA-256 .* is not the expected"
    )


def test_multipart_shards_are_not_reuploaded(seed_bucket, lab_env, lab_settings):
    """Shards over 5 MiB go up as multipart (ETag is no MD5): the seeder's own checksums decide."""
    seeded = seed_bucket({"train": 8000}, objects=False, shard_size=8000, env=lab_env)
    client, directory = seeded.client, seeded.directory
    bucket = lab_settings.bucket

    def again():
        split = load_split(directory, "train")
        return seed_shards(client, bucket, "mnist-shards", [split], shard_size=8000, progress=False)

    first = seeded.shard_report
    assert first.uploaded == 1
    shard = seeded.shard("train", 0)
    etag = client.stat_object(bucket, shard).etag
    assert "-" in etag, f"expected a multipart ETag, got {etag}"  # so an MD5 comparison cannot match
    assert (again().uploaded, again().skipped) == (0, 1)
    # A bucket seeded before checksums.json existed is adopted from the shard manifest.
    client.remove_object(bucket, checksums_key("mnist-shards"))
    adopted = again()
    assert (adopted.uploaded, adopted.skipped) == (0, 1)
    # A shard changed behind the seeder's back (its ETag moved) is uploaded again.
    client.put_object(bucket, shard, io.BytesIO(b"x" * 1024), 1024)
    assert again().uploaded == 1


def test_objects_seeded_before_checksums_are_adopted(seed_bucket, lab_env, lab_settings):
    seeded = seed_bucket({"train": 30}, env=lab_env)
    client, splits = seeded.client, seeded.splits()
    client.remove_object(lab_settings.bucket, checksums_key("mnist"))
    adopted = seed(client, lab_settings.bucket, "mnist", splits, progress=False)
    assert (adopted.uploaded, adopted.skipped) == (0, 30)
    assert client.stat_object(lab_settings.bucket, checksums_key("mnist")).size > 0
