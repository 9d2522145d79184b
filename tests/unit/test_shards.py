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
    digest = "0123456789ab" + "c" * 52
    assert shard_key("mnist-shards", "train", 7, digest) == "mnist-shards/train/shard-000007-0123456789ab.tar"
    assert manifest_key("mnist-shards") == "mnist-shards/manifest.json"
    assert is_shard_key(shard_key("mnist-shards", "test", 0, digest))
    assert not is_shard_key("mnist-shards/test/shard-000000.tar")  # the names before generations
    assert not is_shard_key("mnist-shards/manifest.json")
    assert member_name(42, 7) == "00042.7.png"
    assert parse_member("00042.7.png") == (42, 7)
    with pytest.raises(ValueError):
        parse_member("00042.png")


def test_members_of_other_datasets_carry_their_extension_and_labels_to_999():
    assert member_name(42, 999, "bin") == "00042.999.bin"
    assert parse_member("shard-000001-0123456789ab.tar/1281166.999.jpg") == (1281166, 999)
    for name in ("00042.1000.png", "00042.07.png", "00042.7.gif"):
        with pytest.raises(ValueError):
            parse_member(name)
    with pytest.raises(ValueError):
        member_name(1, 1, "gif")
    body = write_shard([(0, 3, b"\x00" * 700)], "bin")
    assert list(iter_shard(OneWay(body))) == [("00000.3.bin", b"\x00" * 700)]


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


KEY = "mnist-shards/train/shard-000000.tar"


def _shard() -> tuple[bytes, str]:
    import hashlib

    body = write_shard((i, i % 10, bytes([i]) * 700) for i in range(5))
    return body, hashlib.sha256(body).hexdigest()


def _read(body: bytes, sha256: str) -> list[str]:
    from labcore.shards import iter_verified

    return [key for key, _ in iter_verified(OneWay(body), KEY, sha256)]


def test_an_intact_shard_streams_with_member_keys():
    body, digest = _shard()
    assert _read(body, digest) == [f"{KEY}/{i:05d}.{i % 10}.png" for i in range(5)]


def test_truncation_at_a_block_boundary_is_caught_by_the_hash():
    """tarfile in stream mode takes a cut at a 512-byte boundary for the end: only the hash sees it."""
    from labcore.errors import DataError

    body, digest = _shard()
    cut = body[: 1536 * 2]  # two whole members (a header and two data blocks each), no end blocks
    with tarfile.open(fileobj=io.BytesIO(cut), mode="r|") as tar:
        assert len(list(tar)) == 2  # tarfile sees a normal end
    with pytest.raises(DataError, match=rf"shard {KEY} does not match its manifest .*re-seed the shards"):
        _read(cut, digest)


def test_truncation_mid_member_names_the_shard():
    from labcore.errors import DataError

    body, digest = _shard()
    with pytest.raises(DataError, match=rf"shard {KEY} is (damaged after member|does not match)"):
        _read(body[:1300], digest)


def test_one_changed_byte_is_caught():
    from labcore.errors import DataError

    body, digest = _shard()
    changed = bytearray(body)
    changed[600] ^= 0xFF  # inside member 0's data: tar's header checksums do not cover it
    with pytest.raises(DataError, match=rf"shard {KEY} does not match its manifest"):
        _read(bytes(changed), digest)
