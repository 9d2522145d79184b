"""A training sample and a batch of them, as named records: no stage indexes a tuple.

A :class:`Sample` is made once, where an object's bytes are decoded
(:func:`trainer.transforms.decode_sample`), and travels from a DataLoader worker to the main
process by pickling; :func:`trainer.transforms.collate_samples` turns a list of them into a
:class:`Batch`, which the training loop reads by name (or unpacks in this order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

# The index of a sample whose loader never holds the epoch's list of objects.
UNLISTED = -1


def undecoded(images: object) -> bool:
    """Whether ``images`` (a sample's or a batch's) are objects' bytes, not pixels: the 1-D
    ``uint8`` tensor a ``.bin`` object (a synthetic dataset) is read into, undecoded."""
    return getattr(images, "dtype", None) == torch.uint8 and images.dim() == 1


@dataclass(frozen=True)
class Sample:
    """One object, decoded: usable (``image`` set) or not (``problem`` says why).

    - ``image``: a normalized 1x28x28 float tensor, ``None`` for an unusable object;
    - ``label``: from the key (as planning parsed it, when there is a plan); -1 for a key outside
      the layout;
    - ``key``: the object key, or a shard member's ``<shard key>/<member name>``; key and worker
      travel with the sample so the loop can prove every object arrived exactly once and show
      how the work spread over the workers;
    - ``worker``: the DataLoader worker that decoded it, -1 for the main process;
    - ``problem``: why the object is unusable, ``""`` for a usable one;
    - ``index``: its position in the list of objects its dataset was built from this epoch (for an
      elastic resume): the epoch's permutation for ``s3iter``'s training stream, the prefix's
      listing (which the sampler permutes) for ``map``, the sorted keys for the bench's local
      loader. :data:`UNLISTED` (-1) where the loader never holds that list: streams in the
      connector's listing order (``s3prefix``, evaluation), read-ahead, ``manual`` (it lists in
      each worker) and shard members;
    - ``raw``: the object's bytes, for datasets that are not 28x28 PNGs; ``None`` unless asked
      for (``keep_raw``), so memory does not grow;
    - ``nbytes``: how many bytes the object (or shard member) had: what the bench counts.
    """

    image: torch.Tensor | None
    label: int
    key: str
    worker: int
    problem: str = ""
    index: int = UNLISTED
    raw: bytes | None = None
    nbytes: int = 0

    @property
    def usable(self) -> bool:
        return self.image is not None


class Batch(NamedTuple):
    """What a DataLoader step yields: the usable samples stacked, and every sample's key and worker.

    ``keys`` and ``workers`` cover every object delivered, usable or not (usable ones first), so
    the exactly-once check sees them all; ``problems`` holds ``(key, why)`` of the skipped ones;
    ``nbytes`` the bytes of all its objects, as read.
    """

    images: torch.Tensor
    labels: torch.Tensor
    keys: list[str]
    workers: torch.Tensor
    problems: list[tuple[str, str]]
    nbytes: int = 0
