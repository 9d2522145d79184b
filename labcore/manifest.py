"""The shard manifest (``<prefix>-shards/manifest.json``): its shape, checked once where it is read.

The seeder writes it after every shard it lists is complete; the trainer plans its shard epochs
from it. One edited by hand, cut short or written by something else is one line naming it and the
fix, never a ``KeyError`` from deep inside planning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from labcore.errors import DataError

_SHA256 = re.compile(r"[0-9a-f]{64}")
FIX = "re-seed with --format shards --prune"


@dataclass(frozen=True)
class ShardEntry:
    """One shard as the manifest lists it: its key, how many samples it holds, its SHA-256."""

    key: str
    samples: int
    sha256: str | None


@dataclass(frozen=True)
class ManifestSplit:
    """One split of the manifest: its sample count and its shards in order."""

    samples: int
    shards: tuple[ShardEntry, ...]


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shard(value: object) -> ShardEntry | None:
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("key"), str)
        or not _count(value.get("samples"))
    ):
        return None
    sha256 = value.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
        return None
    return ShardEntry(value["key"], value["samples"], sha256)


def parse_manifest(value: dict, where: str) -> dict[str, ManifestSplit]:
    """``{split: ManifestSplit}`` from the manifest's JSON object at ``where`` (an ``s3://`` URI).

    ``DataError`` naming ``where``, what is wrong and the fix when any part has another shape.
    """

    def damaged(what: str) -> DataError:
        return DataError(f"the shard manifest {where} is damaged ({what}): {FIX}")

    splits = value.get("splits")
    if not isinstance(splits, dict):
        raise damaged('no "splits" object')
    parsed = {}
    for name, entry in splits.items():
        if not isinstance(entry, dict) or not _count(entry.get("samples")):
            raise damaged(f'split {name!r} has no "samples" count')
        if not isinstance(entry.get("shards"), list):
            raise damaged(f'split {name!r} has no "shards" list')
        shards = [_shard(shard) for shard in entry["shards"]]
        if None in shards:
            number = shards.index(None)
            raise damaged(f'shard {number} of split {name!r} lacks a "key", a "samples" count or a SHA-256')
        parsed[name] = ManifestSplit(entry["samples"], tuple(shards))
    return parsed
