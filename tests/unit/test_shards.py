import io
import random
import tarfile

import pytest

from labcore.shards import (
    is_shard_key,
    iter_shard,
    manifest_key,
    member_name,
    parse_member,
    shard_key,
    shards_prefix,
    write_shard,
)


class OneWay(io.RawIOBase):
    """A stream that cannot seek or tell, like a network body."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(min(len(buffer), 100))  # short reads, as sockets give
        buffer[: len(chunk)] = chunk
        return len(chunk)


def samples(n: int, seed: int = 0):
    rng = random.Random(seed)
    return [(i, rng.randrange(10), rng.randbytes(rng.randrange(1, 900))) for i in range(n)]


def test_layout_names():
    assert shards_prefix("mnist") == "mnist-shards"
    assert shard_key("mnist-shards", "train", 7) == "mnist-shards/train/shard-000007.tar"
    assert manifest_key("mnist-shards") == "mnist-shards/manifest.json"
    assert is_shard_key("mnist-shards/test/shard-000000.tar")
    assert not is_shard_key("mnist-shards/manifest.json")
    assert member_name(42, 7) == "00042.7.png"
    assert parse_member("00042.7.png") == (42, 7)
    with pytest.raises(ValueError):
        parse_member("00042.png")


def test_shards_are_byte_identical_for_the_same_samples():
    items = samples(30)
    assert write_shard(items) == write_shard(items)
    assert write_shard(items) != write_shard(samples(30, seed=1))


def test_stream_round_trip_without_seeking():
    items = samples(50)
    got = list(iter_shard(OneWay(write_shard(items))))
    assert got == [(member_name(i, label), png) for i, label, png in items]


def test_shard_is_a_plain_tar():
    items = samples(3)
    with tarfile.open(fileobj=io.BytesIO(write_shard(items))) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [member_name(i, label) for i, label, _ in items]
        assert all(m.mtime == 0 and m.mode == 0o644 and m.uid == 0 and m.uname == "" for m in members)
        assert [tar.extractfile(m).read() for m in members] == [png for _, _, png in items]
