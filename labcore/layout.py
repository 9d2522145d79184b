"""Where every sample lives in the bucket: ``<prefix>/<split>/<label>/<index>.<extension>``.

The label is part of the key so a loader gets it without a second request, and the index is
zero-padded so that a listing (lexicographic) is also index order within a label.

- ``label``: 0 to 999, in decimal without leading zeros (MNIST's are 0-9; ImageNet has 1,000);
- ``index``: the sample's position in its split, zero-padded to :func:`index_width` digits: 5
  (MNIST's ``00042``) unless the split holds more than 100,000 samples;
- ``extension``: what the bytes are (:data:`EXTENSIONS`): ``png`` for the lab's 28x28 images,
  ``jpg`` and ``bin`` (synthetic bytes, :mod:`labcore.synthetic`) for other datasets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SPLITS = ("train", "test")
INDEX_WIDTH = 5
MAX_LABEL = 999
# Extension -> the Content-Type the seeder gives the object.
EXTENSIONS = {"png": "image/png", "jpg": "image/jpeg", "bin": "application/octet-stream"}
# A label without leading zeros, so that one sample has one key.
LABEL_PATTERN = r"0|[1-9][0-9]{0,2}"
EXTENSION_PATTERN = "|".join(EXTENSIONS)
LAYOUT = "<prefix>/<train|test>/<label 0-999>/<index>.<png|jpg|bin>"
_KEY_RE = re.compile(
    rf"^(?P<prefix>.+)/(?P<split>train|test)/(?P<label>{LABEL_PATTERN})/(?P<index>[0-9]+)"
    rf"\.(?P<extension>{EXTENSION_PATTERN})$"
)


@dataclass(frozen=True)
class SampleKey:
    """The parts of a sample's object key."""

    prefix: str
    split: str
    label: int
    index: int
    extension: str = "png"


def split_prefix(prefix: str, split: str) -> str:
    """The key prefix that holds one split, with its trailing slash (``mnist/train/``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return f"{prefix.strip('/')}/{split}/"


def index_width(count: int) -> int:
    """Digits of a split's zero-padded index: 5, or as many as its last index needs."""
    return max(INDEX_WIDTH, len(str(max(count - 1, 0))))


def check_label(label: int) -> None:
    """``ValueError`` for a label outside the layout's 0-999."""
    if not 0 <= label <= MAX_LABEL:
        raise ValueError(f"label {label} is outside 0-{MAX_LABEL}")


def sample_key(
    prefix: str, split: str, label: int, index: int, *, extension: str = "png", width: int = INDEX_WIDTH
) -> str:
    """The object key of sample ``index`` of ``split`` with class ``label``."""
    check_label(label)
    if index < 0:
        raise ValueError(f"index {index} is negative")
    if extension not in EXTENSIONS:
        raise ValueError(f"extension {extension!r} is not one of {', '.join(EXTENSIONS)}")
    return f"{split_prefix(prefix, split)}{label}/{index:0{width}d}.{extension}"


def parse_key(key: str) -> SampleKey:
    """Split a sample key into its parts; ``ValueError`` names a key outside the layout."""
    match = _KEY_RE.match(key)
    if not match:
        raise ValueError(f"{key!r} is not {LAYOUT}")
    return SampleKey(
        prefix=match["prefix"],
        split=match["split"],
        label=int(match["label"]),
        index=int(match["index"]),
        extension=match["extension"],
    )
