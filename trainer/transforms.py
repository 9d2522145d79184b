"""Turning an object (an ``S3Reader``, or a key and its bytes) into a training sample."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from labcore.layout import parse_key
from labcore.shards import parse_member, shard_of
from trainer.distributed import position
from trainer.transient import read_object

# MNIST's pixel mean and standard deviation; Fashion-MNIST's are close enough for a demo.
MEAN, STD = 0.1307, 0.3081
SHAPE = (28, 28)


def worker_id() -> int:
    """The DataLoader worker this runs in; -1 in the main process (``num_workers=0``)."""
    return position().worker


def sample_label(key: str) -> int:
    """The label in a sample's key: ``.../<label>/<index>.png``, or a shard member ``<index>.<label>.png``.

    ``ValueError`` for a key outside both layouts.
    """
    if shard_of(key) is not None:
        return parse_member(key)[1]
    return parse_key(key).label


def decode_sample(key: str, data: bytes) -> tuple[torch.Tensor | None, int, str, int, str]:
    """``(image, label, key, worker, problem)`` for one object.

    The image is a normalized 1x28x28 float tensor and the label comes from the key. Key and
    worker travel with the sample so the training loop can prove every object arrived exactly
    once and show how the work spread over the workers. An object that is not a sample (outside
    the layout, empty, not a PNG, not 28x28 grayscale) comes back with no image and ``problem``
    saying why: data problems are counted and skipped, not fatal (``--strict`` makes them so).
    """
    try:
        label = sample_label(key)
    except ValueError:
        return None, -1, key, worker_id(), "outside the <label>/<index>.png layout"
    if not data:
        return None, label, key, worker_id(), "empty object"
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                return None, label, key, worker_id(), f"{image.format} image, not PNG"
            pixels = np.asarray(image.convert("L"), dtype=np.float32)
    except (OSError, ValueError, SyntaxError) as exc:
        return None, label, key, worker_id(), f"not a readable PNG ({exc})"
    if pixels.shape != SHAPE:
        return None, label, key, worker_id(), f"{pixels.shape[0]}x{pixels.shape[1]} image, not 28x28"
    tensor = torch.from_numpy(pixels).div_(255.0).sub_(MEAN).div_(STD).unsqueeze(0)
    return tensor, label, key, worker_id(), ""


def collate_samples(
    batch: list,
) -> tuple[torch.Tensor, torch.Tensor, list[str], torch.Tensor, list[tuple[str, str]]]:
    """``(images, labels, keys, workers, problems)``: usable samples stacked, the rest listed.

    ``keys`` and ``workers`` cover every object delivered, usable or not, so the exactly-once
    check sees them all; ``problems`` holds ``(key, why)`` of the skipped ones.
    """
    good = [s for s in batch if s[0] is not None]
    images = torch.stack([s[0] for s in good]) if good else torch.empty(0, 1, *SHAPE)
    labels = torch.tensor([s[1] for s in good], dtype=torch.long)
    keys = [s[2] for s in good] + [s[2] for s in batch if s[0] is None]
    workers = torch.tensor([s[3] for s in good] + [s[3] for s in batch if s[0] is None], dtype=torch.long)
    problems = [(s[2], s[4]) for s in batch if s[0] is None]
    return images, labels, keys, workers, problems


class DecodePng:
    """Transform for the S3 connector's datasets: ``S3Reader`` -> sample.

    A class, not a lambda, so DataLoader workers can pickle it.
    """

    def __call__(self, reader) -> tuple[torch.Tensor | None, int, str, int, str]:
        return decode_sample(reader.key, read_object(reader))


class ReadObject:
    """Transform that only reads: ``S3Reader`` -> ``(key, bytes)``, decoded after a shuffle buffer."""

    def __call__(self, reader) -> tuple[str, bytes]:
        return reader.key, read_object(reader)
