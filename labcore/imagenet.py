"""An ImageNet-like profile of synthetic JPEGs: ``synthetic:<count>:imagenet[:labels=N][:seed=S]``.

ImageNet's training set cannot be downloaded here, and what a loader pays for it is its objects'
sizes and their JPEG decode, not their pictures. Each object of this profile is a JPEG whose
size is drawn from a log-normal distribution:

- **median 96 KB, sigma 0.5** (of the natural log of the size), so a mean of about 109 KB
  (111 kB): the published total of ILSVRC-2012's training set (about 140 GB over 1,281,167
  JPEGs) gives 110-115 kB. The median and spread are the lab's assumption, not a measurement of
  ImageNet; sizes are clamped to 8 KB-1 MB;
- **encoded like most of ImageNet**: quality 96, no chroma subsampling (4:4:4), at an aspect
  drawn from 4:3, 3:2, 1:1, 3:4 and 2:3, with as many pixels as the content needs to fill about
  95% of the drawn size (a 96 KB JPEG is about 480x360); the rest is a comment segment, so every
  object has exactly its drawn size;
- **content**: low-resolution noise scaled up (smooth colour fields) blended with 2% per-pixel
  noise, which compresses at a steady ~0.53 bytes per pixel at quality 96.

Everything is a function of the seed, the split and the index: an object's label, size and bytes
are made when the seeder asks for them, and a re-run with the same Pillow writes byte-identical
objects (Pillow's wheels bundle their own libjpeg-turbo, and the lab's images and venv install
one locked Pillow). Another Pillow may encode other bytes of the same size: the seeder then
uploads them again, nothing else changes.
"""

from __future__ import annotations

import io
import math
import random
from statistics import NormalDist

from PIL import Image

PROFILE = "imagenet"
MEDIAN = 96 << 10
SIGMA = 0.5
MIN_SIZE, MAX_SIZE = 8 << 10, 1 << 20
QUALITY = 96
ASPECTS = ((4, 3), (3, 2), (1, 1), (3, 4), (2, 3))
# The blend's share of per-pixel noise, and the bytes per pixel that content encodes to at QUALITY
# (measured over 500x375 images with Pillow 13: 0.53); FILL is the share of the size left to pixels.
DETAIL = 0.02
BYTES_PER_PIXEL = 0.53
FILL = 0.95
_SCALE = 16  # pixels per cell of the smooth colour field
_COMMENT = b"\xff\xfe"
_COMMENT_MAX = 0xFFFF + 2  # a segment's marker and its length field count; the length counts itself


def _rng(seed: int, split: str, index: int) -> random.Random:
    # Its own namespace, so an ImageNet-like object never shares draws with a .bin one.
    return random.Random(f"imagenet/{seed}/{split}/{index}")


def draw(seed: int, split: str, index: int, labels: int) -> tuple[random.Random, int, int]:
    """``(generator, label, size)`` of one object: its label first (so :func:`label` is cheap),
    then its size from the log-normal, clamped."""
    rng = _rng(seed, split, index)
    label = rng.randrange(labels)
    # inv_cdf of random(): Python promises random()'s draws across releases, not lognormvariate's.
    z = NormalDist().inv_cdf(min(max(rng.random(), 1e-12), 1 - 1e-12))
    size = round(MEDIAN * math.exp(SIGMA * z))
    return rng, label, min(MAX_SIZE, max(MIN_SIZE, size))


def label(seed: int, split: str, index: int, labels: int) -> int:
    """The label of one object, without making its bytes."""
    return _rng(seed, split, index).randrange(labels)


def _picture(rng: random.Random, width: int, height: int) -> Image.Image:
    cells = (max(1, width // _SCALE), max(1, height // _SCALE))
    field = Image.frombytes("RGB", cells, rng.randbytes(cells[0] * cells[1] * 3))
    noise = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    return Image.blend(field.resize((width, height), Image.Resampling.BICUBIC), noise, DETAIL)


def _encode(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=QUALITY, subsampling=0)
    return out.getvalue()


def _pad(jpeg: bytes, extra: int, rng: random.Random) -> bytes:
    """``jpeg`` with ``extra`` more bytes, in comment segments after its start marker (decoders skip them)."""
    segments = []
    while extra:
        take = min(extra, _COMMENT_MAX)
        if 0 < extra - take < 4:  # a segment is 4 bytes at least: leave enough for the last one
            take -= 4
        body = rng.randbytes(take - 4)
        segments.append(_COMMENT + (take - 2).to_bytes(2, "big") + body)
        extra -= take
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def jpeg(rng: random.Random, size: int) -> bytes:
    """A JPEG of exactly ``size`` bytes (at least :data:`MIN_SIZE`), its pixels and aspect from ``rng``."""
    if size < MIN_SIZE:
        raise ValueError(f"a JPEG of this profile has {MIN_SIZE} bytes at least, not {size}")
    across, down = ASPECTS[rng.randrange(len(ASPECTS))]
    pixels = FILL * size / BYTES_PER_PIXEL
    unit = math.sqrt(pixels / (across * down))
    width, height = max(8, round(across * unit)), max(8, round(down * unit))
    picture = _picture(rng, width, height)
    body = _encode(picture)
    # Too large, or 1-3 bytes short (no segment is that small): a few pixels fewer, until it fits.
    while not (len(body) == size or len(body) + 4 <= size):
        shrink = min(0.99, math.sqrt(FILL * size / len(body)))
        width, height = max(8, int(width * shrink)), max(8, int(height * shrink))
        picture = picture.resize((width, height), Image.Resampling.BILINEAR)
        body = _encode(picture)
    return _pad(body, size - len(body), rng)


def describe() -> str:
    """The profile in a report: ``ImageNet-like JPEGs (median 96 KB, sigma 0.5)``."""
    return f"ImageNet-like JPEGs (median {MEDIAN >> 10} KB, sigma {SIGMA})"
