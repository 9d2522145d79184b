"""Lossless PNG encoding of 8-bit grayscale images, deterministic byte for byte.

Deterministic output matters: the seeder decides whether an object is already in the bucket by
comparing the MD5 of the PNG it would write with the object's ETag.
"""

from __future__ import annotations

import io

from PIL import Image


def encode_png(pixels: bytes, rows: int, cols: int) -> bytes:
    """Encode ``rows x cols`` grayscale bytes (row-major) as a PNG."""
    if len(pixels) != rows * cols:
        raise ValueError(f"{len(pixels)} pixel bytes do not make a {rows}x{cols} image")
    image = Image.frombytes("L", (cols, rows), pixels)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=9)
    return out.getvalue()


def decode_png(data: bytes) -> tuple[int, int, bytes]:
    """Decode a grayscale PNG to ``(rows, cols, pixels)``."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        gray = image if image.mode == "L" else image.convert("L")
        return gray.height, gray.width, gray.tobytes()
