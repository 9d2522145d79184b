"""Reading IDX files, the format MNIST and Fashion-MNIST ship in (raw or gzip-compressed)."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from labcore.errors import DataError

_UBYTE = 0x08


@dataclass(frozen=True)
class IdxArray:
    """An unsigned-byte IDX array: its shape and its row-major bytes."""

    shape: tuple[int, ...]
    data: bytes

    def __len__(self) -> int:
        return self.shape[0]

    def item(self, i: int) -> bytes:
        """The bytes of element ``i`` along the first axis."""
        size = math.prod(self.shape[1:])
        return self.data[i * size : (i + 1) * size]


def parse_idx(raw: bytes, name: str = "<bytes>") -> IdxArray:
    """Parse the bytes of an IDX file; ``DataError`` says what is wrong and with which file."""
    if len(raw) < 4:
        raise DataError(f"{name}: too short to be an IDX file ({len(raw)} bytes)")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or ndim == 0:
        raise DataError(f"{name}: not an IDX file (magic {raw[:4].hex()})")
    if dtype != _UBYTE:
        raise DataError(f"{name}: IDX element type 0x{dtype:02x} is not unsigned byte (0x08)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: IDX header is cut short")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = math.prod(shape)
    if len(raw) - header != expected:
        raise DataError(
            f"{name}: IDX shape {'x'.join(map(str, shape))} needs {expected} bytes of data, "
            f"found {len(raw) - header} (truncated or corrupt file)"
        )
    return IdxArray(shape=shape, data=raw[header:])


def read_idx(path: str | Path) -> IdxArray:
    """Read an IDX file, decompressing it when its name ends in ``.gz``."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except PermissionError:
        raise DataError(f"{path}: cannot read it (permission denied)") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc or type(exc).__name__})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return parse_idx(raw, str(path))
