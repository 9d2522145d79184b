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
# The most data one IDX file may declare: 1 GiB, over 20 times MNIST's training images (47 MB).
MAX_IDX_BYTES = 1 << 30


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


def _header(raw: bytes, name: str) -> tuple[tuple[int, ...], int]:
    """The shape an IDX file declares and its header's length, from its first bytes."""
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
    if math.prod(shape) > MAX_IDX_BYTES:
        raise DataError(
            f"{name}: IDX shape {'x'.join(map(str, shape))} declares {math.prod(shape)} bytes, more than "
            f"the {MAX_IDX_BYTES} the lab reads (a damaged file, or not a dataset)"
        )
    return shape, header


def _checked(shape: tuple[int, ...], data: bytes, name: str, *, whole: bool = True) -> IdxArray:
    """``data`` as the array ``shape`` declares; ``whole``: it is all of the file's data (else a
    read stopped one byte past the declared size)."""
    expected = math.prod(shape)
    if len(data) != expected:
        found = f"more than {expected}" if len(data) > expected and not whole else str(len(data))
        raise DataError(
            f"{name}: IDX shape {'x'.join(map(str, shape))} needs {expected} bytes of data, "
            f"found {found} (truncated or corrupt file)"
        )
    return IdxArray(shape=shape, data=data)


def parse_idx(raw: bytes, name: str = "<bytes>") -> IdxArray:
    """Parse the bytes of an IDX file; ``DataError`` says what is wrong and with which file."""
    shape, header = _header(raw, name)
    return _checked(shape, raw[header:], name)


def read_idx(path: str | Path) -> IdxArray:
    """Read an IDX file, decompressing it when its name ends in ``.gz``.

    The header is read first and no more data than its shape declares (plus one byte, to notice
    extra data): a gzip bomb, or a file far larger than its header says, is refused in one line
    without being read into memory.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as fh:
            head = fh.read(4)
            ndim = head[3] if len(head) == 4 else 0
            head += fh.read(4 * ndim)
            shape, _ = _header(head, str(path))
            data = fh.read(math.prod(shape) + 1)
    except PermissionError:
        raise DataError(f"{path}: cannot read it (permission denied)") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupt gzip data ({exc or type(exc).__name__})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return _checked(shape, data, str(path), whole=False)
