"""Turning an object (an ``S3Reader``, or a key and its bytes) into a :class:`~trainer.sample.Sample`."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
import torch
from PIL import Image

from labcore.layout import parse_key
from labcore.shards import parse_member, shard_of
from trainer.distributed import position
from trainer.sample import UNLISTED, Batch, Sample, undecoded
from trainer.transient import read_object

# MNIST's pixel mean and standard deviation; Fashion-MNIST's are close enough for a demo.
MEAN, STD = 0.1307, 0.3081
SHAPE = (28, 28)
CROP = (224, 224)  # what an ImageNet model takes
OUTSIDE_LAYOUT = "outside the <label>/<index>.png layout"


def worker_id() -> int:
    """The DataLoader worker this runs in; -1 in the main process (``num_workers=0``)."""
    return position().worker


def sample_label(key: str) -> int:
    """The label in a sample's key: ``.../<label>/<index>.png``, or a shard member ``<index>.<label>.png``.

    ``ValueError`` for a key outside both layouts. Only for keys no plan has labelled: planning
    parses each listed key once (:attr:`trainer.planning.SplitPlan.labels`), and shard members,
    which only the tar names, are parsed here as they are decoded.
    """
    if shard_of(key) is not None:
        return parse_member(key)[1]
    return parse_key(key).label


def is_raw(key: str) -> bool:
    """Whether a sample's bytes go on undecoded: ``.bin`` objects and members (synthetic datasets)."""
    return key.endswith(".bin")


def decode_sample(
    key: str, data: bytes, *, label: int | None = None, index: int = UNLISTED, keep_raw: bool = False
) -> Sample:
    """The :class:`~trainer.sample.Sample` of one object: the one place a sample is made.

    ``label`` is the label planning parsed from the key (``None``: parse it here); ``index`` the
    object's position in its dataset's list for this epoch, if the caller holds one. An object
    that is not a sample (outside the layout, empty, not a PNG, not 28x28 grayscale) comes back
    with no image and ``problem`` saying why: data problems are counted and skipped, not fatal
    (``--strict`` makes them so). ``keep_raw`` keeps the bytes in the sample.

    Which decode applies is the key's extension's to say, so no loader needs a mode for it (the
    trainer plans ``.png`` keys alone; the others are the bench's, :mod:`labcore.synthetic`):

    - ``.png``: a 28x28 grayscale PNG, normalized: a 1x28x28 float tensor;
    - ``.jpg``: decoded to RGB, its centre square scaled to 224x224 as ImageNet training does:
      a 3x224x224 ``uint8`` tensor (normalizing is left to the model's device);
    - ``.bin``: not decoded: the bytes as a 1-D ``uint8`` tensor, which the bench counts.
    """
    worker = worker_id()
    raw = data if keep_raw else None
    if label is None:
        try:
            label = sample_label(key)
        except ValueError:
            return Sample(None, -1, key, worker, OUTSIDE_LAYOUT, index, raw, len(data))
    if is_raw(key):
        image, problem = torch.frombuffer(bytearray(data), dtype=torch.uint8), ""
    elif key.endswith(".jpg"):
        image, problem = _jpeg(data)
    else:
        image, problem = _png(data)
    return Sample(image, label, key, worker, problem, index, raw, len(data))


def _png(data: bytes) -> tuple[torch.Tensor | None, str]:
    pixels, problem = _pixels(data, "PNG")
    if pixels is None:
        return None, problem
    if pixels.shape != SHAPE:
        return None, f"{pixels.shape[0]}x{pixels.shape[1]} image, not 28x28"
    return torch.from_numpy(pixels).div_(255.0).sub_(MEAN).div_(STD).unsqueeze(0), ""


def _jpeg(data: bytes) -> tuple[torch.Tensor | None, str]:
    pixels, problem = _pixels(data, "JPEG")
    if pixels is None:
        return None, problem
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous(), ""


def _pixels(data: bytes, kind: str) -> tuple[np.ndarray | None, str]:
    """``(pixels, "")`` of a ``kind`` image (PNG: 28x28 float grayscale as it is; JPEG: the 224x224
    ``uint8`` RGB centre), or ``(None, why)`` when ``data`` is not one."""
    if not data:
        return None, "empty object"
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != kind:
                return None, f"{image.format} image, not {kind}"
            if kind == "PNG":
                return np.asarray(image.convert("L"), dtype=np.float32), ""
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            square = image.convert("RGB").crop((left, top, left + side, top + side))
            return np.array(square.resize(CROP, Image.Resampling.BILINEAR), dtype=np.uint8), ""
    except (OSError, ValueError, SyntaxError) as exc:
        return None, f"not a readable {kind} ({exc})"


def collate_samples(batch: list[Sample]) -> Batch:
    """One :class:`~trainer.sample.Batch`: usable samples stacked, the rest listed.

    Undecoded samples (``.bin``) may differ in length: their bytes are joined end to end into one
    1-D ``uint8`` tensor, whose length is the bytes the batch carried.
    """
    good = [s for s in batch if s.usable]
    bad = [s for s in batch if not s.usable]
    if good and undecoded(good[0].image):
        images = torch.cat([s.image for s in good])
    else:
        images = torch.stack([s.image for s in good]) if good else torch.empty(0, 1, *SHAPE)
    labels = torch.tensor([s.label for s in good], dtype=torch.long)
    keys = [s.key for s in good] + [s.key for s in bad]
    workers = torch.tensor([s.worker for s in good] + [s.worker for s in bad], dtype=torch.long)
    problems = [(s.key, s.problem) for s in bad]
    return Batch(images, labels, keys, workers, problems, sum(s.nbytes for s in batch))


class DecodePng:
    """Transform for the S3 connector's datasets: ``S3Reader`` -> :class:`~trainer.sample.Sample`.

    ``labels`` (key -> label, from the plan) spares a parse of each key; ``positions`` (key ->
    position in the epoch's list of objects) fills each sample's ``index``. A class, not a lambda,
    so DataLoader workers can pickle it.
    """

    def __init__(
        self,
        labels: Mapping[str, int] | None = None,
        positions: Mapping[str, int] | None = None,
        *,
        keep_raw: bool = False,
    ):
        self.labels = labels or {}
        self.positions = positions or {}
        self.keep_raw = keep_raw

    def __call__(self, reader) -> Sample:
        key = reader.key
        return decode_sample(
            key,
            read_object(reader),
            label=self.labels.get(key),
            index=self.positions.get(key, UNLISTED),
            keep_raw=self.keep_raw,
        )


class ReadObject:
    """Transform that only reads: ``S3Reader`` -> ``(key, bytes)``, decoded after a shuffle buffer."""

    def __call__(self, reader) -> tuple[str, bytes]:
        return reader.key, read_object(reader)
