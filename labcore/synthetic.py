"""Synthetic datasets of a chosen object size: ``synthetic:<count>:<size|imagenet>[:labels=N][:seed=S]``.

A 28x28 PNG is about 300 bytes, the most request-bound object a training set can have; real
datasets bring objects of tens of KB to MBs, and none can be downloaded here. A synthetic dataset
has ``count`` training objects (and a sixth as many test objects, MNIST's ratio): either exactly
``size`` random bytes each, under the lab's key layout with extension ``.bin``, or, with
``imagenet`` for the size, JPEGs whose sizes follow ImageNet's (:mod:`labcore.imagenet`, ``.jpg``,
1,000 labels unless ``labels=`` says otherwise).

Each object's label and bytes are a function of the seed, its split and its index alone, made
when the seeder asks for them: no dataset is held in memory, and a re-run writes byte-identical
objects, so the seeder's ETag comparison skips what is already there.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from labcore import imagenet
from labcore.errors import ConfigError

PREFIX = "synthetic:"
# Binary units, as object stores and `du -h` count them: 1 KB here is 1,024 bytes.
_UNITS = {
    "": 1,
    "B": 1,
    "K": 1 << 10,
    "KB": 1 << 10,
    "KIB": 1 << 10,
    "M": 1 << 20,
    "MB": 1 << 20,
    "MIB": 1 << 20,
}
_SIZE_RE = re.compile(r"^([0-9]+)\s*([A-Za-z]*)$")
MAX_SIZE = 256 << 20  # one object in memory at a time per upload thread
MAX_LABELS = 1000  # the key layout's label range (labcore.layout.MAX_LABEL + 1)
FORM = "synthetic:<count>:<size|imagenet>[:labels=N][:seed=S]"
EXAMPLE = "synthetic:2000:128KB"


def parse_size(text: str) -> int:
    """``"128KB"`` -> 131072: bytes, or K/KB/KiB (1,024) or M/MB/MiB (1,048,576); ``ValueError``."""
    match = _SIZE_RE.match(text.strip())
    unit = match and _UNITS.get(match[2].upper())
    if not match or unit is None:
        raise ValueError(f"{text!r} is not a size like 1024, 16KB or 1MB")
    return int(match[1]) * unit


def format_size(size: int) -> str:
    """131072 -> ``"128 KB"``; sizes that are no whole KB or MB stay in bytes."""
    for unit, name in ((1 << 20, "MB"), (1 << 10, "KB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"


@dataclass(frozen=True)
class SyntheticSpec:
    """A synthetic dataset: ``count`` training objects of ``size`` bytes over ``labels`` labels;
    ``size`` None: ImageNet-like JPEGs (:mod:`labcore.imagenet`)."""

    count: int
    size: int | None
    labels: int = 10
    seed: int = 0

    def split_count(self, split: str) -> int:
        """Objects in a split: ``count`` for train, a sixth of it (at least one) for test."""
        return self.count if split == "train" else max(1, -(-self.count // 6))

    @property
    def objects(self) -> str:
        """What each object is, in words: ``128 KB``, or the ImageNet-like profile's description."""
        return imagenet.describe() if self.size is None else format_size(self.size)

    def describe(self) -> str:
        """The dataset's name in reports: ``synthetic 2000 x 128 KB (10 labels, seed 0)``."""
        return f"synthetic {self.count} x {self.objects} ({self.labels} labels, seed {self.seed})"

    def split(self, name: str) -> SyntheticSplit | ImagenetSplit:
        """The split ``name`` (train or test) of this dataset, as the seeder reads it."""
        return ImagenetSplit(self, name) if self.size is None else SyntheticSplit(self, name)


def parse_synthetic(text: str, *, name: str = "SEED_SOURCE") -> SyntheticSpec | None:
    """The spec of a ``synthetic:...`` source, ``None`` for any other source.

    A malformed spec is a :class:`ConfigError` naming ``name`` (the variable or flag it came from).
    """
    if not text.startswith(PREFIX):
        return None

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{name}={text!r}: {why}; the form is {FORM}, e.g. {EXAMPLE}")

    fields = text[len(PREFIX) :].split(":")
    if len(fields) < 2:
        raise bad("a count and a size are needed")
    count, size = fields[0].strip(), fields[1]
    if not count.isdigit() or int(count) < 1:
        raise bad(f"the count {count!r} is not a whole number of at least 1")
    size_bytes = None
    if size.strip().lower() != imagenet.PROFILE:
        try:
            size_bytes = parse_size(size)
        except ValueError as exc:
            raise bad(f"{exc}, or {imagenet.PROFILE}") from None
        if not 1 <= size_bytes <= MAX_SIZE:
            raise bad(f"the size must be 1 byte to {format_size(MAX_SIZE)}")
    options = {"labels": MAX_LABELS if size_bytes is None else 10, "seed": 0}
    for option in fields[2:]:
        key, _, value = option.partition("=")
        if key not in options or not value.strip().isdigit():
            raise bad(f"{option!r} is not labels=N or seed=S")
        options[key] = int(value)
    if not 1 <= options["labels"] <= MAX_LABELS:
        raise bad(f"labels must be 1 to {MAX_LABELS}")
    return SyntheticSpec(int(count), size_bytes, options["labels"], options["seed"])


class _Split:
    """One split of a synthetic dataset, in the shape the seeder reads (:class:`labcore.sources.SeedSplit`)."""

    def __init__(self, spec: SyntheticSpec, name: str):
        if name not in ("train", "test"):
            raise ValueError(f"unknown split {name!r}")
        self.spec, self.name = spec, name
        self._count = spec.split_count(name)

    def __len__(self) -> int:
        return self._count

    def _check(self, index: int) -> None:
        if not 0 <= index < self._count:
            raise IndexError(f"{self.name} has {self._count} objects, not {index + 1}")


class SyntheticSplit(_Split):
    """A split of fixed-size objects of random bytes (``.bin``)."""

    extension = "bin"
    content_type = "application/octet-stream"

    @property
    def object_size(self) -> int:
        """Every object's bytes."""
        return self.spec.size

    def _rng(self, index: int) -> random.Random:
        self._check(index)
        # A string seed uses all its bytes (Python's seeding version 2); the split is in it so that
        # train and test never share bytes. Python promises the same draws across releases for
        # random() alone, so a unit test pins one object's bytes (test_the_bytes_are_pinned): a
        # change would re-upload every synthetic dataset. Not NumPy: the seeder's image has none.
        return random.Random(f"{self.spec.seed}/{self.name}/{index}")

    def label(self, index: int) -> int:
        """The label of object ``index`` (the first draw of its generator)."""
        return self._rng(index).randrange(self.spec.labels)

    def encoded(self, index: int) -> tuple[int, bytes]:
        """``(label, body)`` of object ``index``: its label and ``size`` random bytes."""
        rng = self._rng(index)
        label = rng.randrange(self.spec.labels)
        return label, rng.randbytes(self.spec.size)


class ImagenetSplit(_Split):
    """A split of ImageNet-like JPEGs (``.jpg``): sizes drawn per object (:mod:`labcore.imagenet`)."""

    extension = "jpg"
    content_type = "image/jpeg"
    object_size = None  # each object's own

    def label(self, index: int) -> int:
        """The label of object ``index``."""
        self._check(index)
        return imagenet.label(self.spec.seed, self.name, index, self.spec.labels)

    def size(self, index: int) -> int:
        """The bytes of object ``index``, without making them."""
        self._check(index)
        return imagenet.draw(self.spec.seed, self.name, index, self.spec.labels)[2]

    def encoded(self, index: int) -> tuple[int, bytes]:
        """``(label, jpeg)`` of object ``index``."""
        self._check(index)
        rng, label, size = imagenet.draw(self.spec.seed, self.name, index, self.spec.labels)
        return label, imagenet.jpeg(rng, size)
