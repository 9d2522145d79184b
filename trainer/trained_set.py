"""Which samples of an epoch have been trained, as a compact record over the split's plan.

A checkpoint records this set, not how the samples were dealt, so that a resumed run of another
world size or worker count can deal only the rest (an elastic resume). Objects: one bit per
listed object (60,000 objects are 7.5 KB before compression), whatever the order they were
trained in. Shard samples, which only the tars name: each shard's trained member names.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from labcore.shards import member_key, shard_of


class Listing:
    """The split's object keys in sorted order (S3's listing order), each with its bit."""

    def __init__(self, keys: Iterable[str]):
        self.keys: tuple[str, ...] = tuple(sorted(keys))
        self._index = {key: i for i, key in enumerate(self.keys)}

    def __len__(self) -> int:
        return len(self.keys)

    def bits(self, keys: Iterable[str]) -> bytes:
        """The bitmap of ``keys``; a key the listing does not hold has no bit (the exactly-once
        check reports it)."""
        mask = np.zeros(len(self.keys), dtype=bool)
        mask[[self._index[k] for k in keys if k in self._index]] = True
        return np.packbits(mask).tobytes()

    def keys_of(self, bits: bytes) -> frozenset[str]:
        """The keys whose bits are set in ``bits``."""
        mask = np.unpackbits(np.frombuffer(bits, dtype=np.uint8), count=len(self.keys)).astype(bool)
        return frozenset(self.keys[i] for i in np.flatnonzero(mask))

    def positions(self, keys: Iterable[str]) -> frozenset[int]:
        """The positions of ``keys`` in the listing (a map dataset's indices)."""
        return frozenset(self._index[k] for k in keys if k in self._index)

    def union(self, records: Sequence[bytes]) -> bytes:
        """The bitwise OR of equally long bitmaps (every rank's share of one epoch)."""
        arrays = [np.frombuffer(b, dtype=np.uint8) for b in records]
        return np.bitwise_or.reduce(arrays).tobytes() if arrays else self.bits(())


class ShardListing:
    """The split's shards (key -> sample count, the manifest's): a shard sample's record is its
    member name under its shard's position in the sorted shard keys."""

    def __init__(self, shards: Mapping[str, int]):
        self.shards = dict(sorted(shards.items()))
        self._keys = list(self.shards)
        self._index = {key: i for i, key in enumerate(self._keys)}

    def __len__(self) -> int:
        return sum(self.shards.values())

    def bits(self, keys: Iterable[str]) -> bytes:
        """The record of the shard samples ``keys``; a sample of an unplanned shard has none."""
        names: dict[int, set[str]] = {}
        for key in keys:
            shard = shard_of(key)
            if shard in self._index:
                names.setdefault(self._index[shard], set()).add(key[len(shard) + 1 :])
        return json.dumps({str(i): sorted(n) for i, n in sorted(names.items())}).encode()

    def keys_of(self, record: bytes) -> frozenset[str]:
        """The shard samples ``record`` holds; ``ValueError`` when it is not such a record."""
        try:
            names = json.loads(record)
            return frozenset(member_key(self._keys[int(i)], n) for i, ns in names.items() for n in ns)
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            raise ValueError(f"not a record of trained shard samples ({exc})") from None

    def union(self, records: Sequence[bytes]) -> bytes:
        """One record of every rank's share of one epoch."""
        return self.bits(frozenset().union(*(self.keys_of(r) for r in records)))


def encode(bits: bytes) -> str:
    """``bits`` as compact text for a checkpoint (zlib, then base64)."""
    return base64.b64encode(zlib.compress(bits, 9)).decode("ascii")


def decode(text: str) -> bytes:
    """The bitmap that :func:`encode` wrote; ``ValueError`` when ``text`` is not one."""
    try:
        return zlib.decompress(base64.b64decode(text.encode("ascii"), validate=True))
    except (zlib.error, ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"not a bitmap of trained samples ({exc})") from None
