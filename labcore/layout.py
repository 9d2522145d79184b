"""Where every sample lives in the bucket: ``<prefix>/<split>/<label>/<index>.png``.

The label is part of the key so a loader gets it without a second request, and the index is
zero-padded so that a listing (lexicographic) is also index order within a label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SPLITS = ("train", "test")
INDEX_WIDTH = 5
_KEY_RE = re.compile(r"^(?P<prefix>.+)/(?P<split>train|test)/(?P<label>[0-9])/(?P<index>[0-9]+)\.png$")


@dataclass(frozen=True)
class SampleKey:
    """The parts of a sample's object key."""

    prefix: str
    split: str
    label: int
    index: int


def split_prefix(prefix: str, split: str) -> str:
    """The key prefix that holds one split, with its trailing slash (``mnist/train/``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return f"{prefix.strip('/')}/{split}/"


def sample_key(prefix: str, split: str, label: int, index: int) -> str:
    """The object key of sample ``index`` of ``split`` with class ``label``."""
    if not 0 <= label <= 9:
        raise ValueError(f"label {label} is outside 0-9")
    if index < 0:
        raise ValueError(f"index {index} is negative")
    return f"{split_prefix(prefix, split)}{label}/{index:0{INDEX_WIDTH}d}.png"


def parse_key(key: str) -> SampleKey:
    """Split a sample key into its parts; ``ValueError`` names a key outside the layout."""
    match = _KEY_RE.match(key)
    if not match:
        raise ValueError(f"{key!r} is not <prefix>/<train|test>/<label 0-9>/<index>.png")
    return SampleKey(
        prefix=match["prefix"],
        split=match["split"],
        label=int(match["label"]),
        index=int(match["index"]),
    )
