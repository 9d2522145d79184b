"""Turning an object (an ``S3Reader``, or a key and its bytes) into a training sample."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from torch.utils.data import get_worker_info

from labcore.layout import parse_key

# MNIST's pixel mean and standard deviation; Fashion-MNIST's are close enough for a demo.
MEAN, STD = 0.1307, 0.3081


def worker_id() -> int:
    """The DataLoader worker this runs in; -1 in the main process (``num_workers=0``)."""
    info = get_worker_info()
    return info.id if info is not None else -1


def decode_sample(key: str, data: bytes) -> tuple[torch.Tensor, int, str, int]:
    """``(image, label, key, worker)``: a normalized 1x28x28 float tensor, the label from the key.

    Key and worker travel with the sample so the training loop can prove every object arrived
    exactly once and show how the work spread over the workers.
    """
    label = parse_key(key).label
    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(image.convert("L"), dtype=np.float32)
    tensor = torch.from_numpy(pixels).div_(255.0).sub_(MEAN).div_(STD).unsqueeze(0)
    return tensor, label, key, worker_id()


class DecodePng:
    """Transform for the S3 connector's datasets: ``S3Reader`` -> sample.

    A class, not a lambda, so DataLoader workers can pickle it.
    """

    def __call__(self, reader) -> tuple[torch.Tensor, int, str, int]:
        return decode_sample(reader.key, reader.read())


class ReadObject:
    """Transform that only reads: ``S3Reader`` -> ``(key, bytes)``, decoded after a shuffle buffer."""

    def __call__(self, reader) -> tuple[str, bytes]:
        return reader.key, reader.read()
