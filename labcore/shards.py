"""Tar shards: many samples in one object, written deterministically, read as a stream.

The S3 connector fetches one object per sample; with ~300-byte PNGs the time goes into requests,
not bytes. A shard packs a run of samples into one tar object, read start to end in one GET.
Member names are ``<index>.<label>.<extension>`` (zero-padded index, ``00042.7.png``), so a reader
needs nothing else.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from labcore.errors import DataError
from labcore.layout import EXTENSION_PATTERN, EXTENSIONS, LABEL_PATTERN, check_label, split_prefix

SHARD_WIDTH = 6
_MEMBER_RE = re.compile(rf"^(?P<index>[0-9]+)\.(?P<label>{LABEL_PATTERN})\.(?:{EXTENSION_PATTERN})$")
_SHARD_RE = re.compile(r"^.+/(train|test)/shard-[0-9]{6}-[0-9a-f]{12}\.tar$")
_DIGEST_CHARS = 12


def shards_prefix(data_prefix: str) -> str:
    """Where the shard layout of a dataset lives: ``mnist`` -> ``mnist-shards``."""
    return f"{data_prefix.strip('/')}-shards"


def shard_key(prefix: str, split: str, number: int, sha256: str) -> str:
    """``<prefix>/<split>/shard-000042-<12 hex>.tar``: its place in the split and its content.

    The name carries the start of the shard's SHA-256, so a shard with other samples in it (a new
    ``--shard-size``, another dataset) is a new object, never an overwrite of one that the manifest
    in the bucket still lists: a trainer reading meanwhile, or a seeder stopped halfway, leaves the
    manifest and the shards it names in agreement. Unchanged shards keep their names.
    """
    return f"{split_prefix(prefix, split)}shard-{number:0{SHARD_WIDTH}d}-{sha256[:_DIGEST_CHARS]}.tar"


def manifest_key(prefix: str) -> str:
    """The manifest sits beside the split prefixes, never inside them."""
    return f"{prefix.strip('/')}/manifest.json"


def is_shard_key(key: str) -> bool:
    """Whether ``key`` names a shard of the layout."""
    return bool(_SHARD_RE.match(key))


def member_name(index: int, label: int, extension: str = "png") -> str:
    """``00042.7.png``: the sample's index in its split, its label and what its bytes are."""
    check_label(label)
    if extension not in EXTENSIONS:
        raise ValueError(f"extension {extension!r} is not one of {', '.join(EXTENSIONS)}")
    return f"{index:05d}.{label}.{extension}"


def parse_member(name: str) -> tuple[int, int]:
    """``(index, label)`` of a member name; ``ValueError`` for anything else."""
    match = _MEMBER_RE.match(name.rsplit("/", 1)[-1])
    if not match:
        raise ValueError(f"tar member {name!r} is not <index>.<label>.<{EXTENSION_PATTERN}>")
    return int(match["index"]), int(match["label"])


def member_bytes(size: int) -> int:
    """What a member of ``size`` bytes takes in a shard: its 512-byte tar header and padded data."""
    return 512 + -(-size // 512) * 512


def member_key(shard: str, name: str) -> str:
    """A shard sample's identity: its shard's key and its member name (``.../shard-000001.tar/00042.7.png``)."""
    return f"{shard}/{name}"


def shard_of(key: str) -> str | None:
    """The shard key of a shard sample's identity, ``None`` for a per-object key."""
    shard, _, _ = key.rpartition("/")
    return shard if shard.endswith(".tar") else None


def write_shard(samples: Iterable[tuple[int, int, bytes]], extension: str = "png") -> bytes:
    """A tar of ``(index, label, bytes)`` samples, byte-identical for the same input.

    ``extension`` says what the samples' bytes are (``png`` for the lab's images), in member names.

    Fixed owner, mode and mtime make the bytes (and so the ETag) a function of the samples only,
    which is what lets a re-run of the seeder skip shards that are already there.
    """
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for index, label, body in samples:
            info = tarfile.TarInfo(member_name(index, label, extension))
            info.size = len(body)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(body))
    return out.getvalue()


def iter_shard(stream: BinaryIO) -> Iterator[tuple[str, bytes]]:
    """``(member name, bytes)`` for each file in a tar read as a stream (``r|``: no seeking).

    Only the current member is in memory: the shard is never buffered whole or written to disk.
    """
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            handle = tar.extractfile(member)
            if handle is not None:
                yield member.name, handle.read()


class _Hashing:
    """A read-only stream that hashes what passes through it."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.sha256.update(data)
        return data


def iter_verified(stream: BinaryIO, key: str, sha256: str | None) -> Iterator[tuple[str, bytes]]:
    """``(sample key, bytes)`` of each member of shard ``key``, checked against its ``sha256``.

    The shard is hashed as it streams and checked when it ends, so a shard cut at a 512-byte
    boundary (which ``tarfile`` in stream mode takes for a normal end) or with one changed byte
    stops the run at that shard with one line naming it; nothing is buffered to do so.
    """
    hashing = _Hashing(stream)
    last = None
    try:
        for name, data in iter_shard(hashing):
            last = name
            yield member_key(key, name), data
        while hashing.read(1 << 16):
            pass  # the end-of-archive blocks and padding count too
    except tarfile.TarError as exc:
        raise DataError(f"shard {key} is damaged after member {last!r} ({exc}): re-seed the shards") from None
    digest = hashing.sha256.hexdigest()
    if sha256 and digest != sha256:
        raise DataError(
            f"shard {key} does not match its manifest (SHA-256 {digest[:12]}..., manifest {sha256[:12]}...): "
            "it was truncated or changed; re-seed the shards"
        )
