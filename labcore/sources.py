"""Dataset sources: MNIST from its public mirrors (SHA-256 verified) or a directory of IDX files.

Fashion-MNIST (Debian's ``dataset-fashion-mnist``) has exactly MNIST's file names, format and
shapes, so a directory of it is the offline stand-in.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from tqdm import tqdm

from labcore.errors import ConfigError, DataError
from labcore.idx import IdxArray, read_idx
from labcore.png import encode_png

# IDX base names per split; the files may carry a .gz suffix.
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# The mirrors torchvision and TensorFlow download from (yann.lecun.com now asks for a login).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


# A dataset is known by its uncompressed training labels, whatever the files' compression: the
# SHA-256 of Fashion-MNIST's train-labels-idx1-ubyte as Debian's dataset-fashion-mnist ships it.
KNOWN_LABELS = {"bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9": "Fashion-MNIST"}
# What each label means, per dataset (Fashion-MNIST's from its authors' README).
CLASSES = {
    "MNIST": tuple("0123456789"),
    "Fashion-MNIST": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
}  # fmt: skip


class SeedSplit(Protocol):
    """What the seeder reads of one split: its samples' labels and encoded bytes, by index."""

    name: str
    extension: ClassVar[str]  # of the objects' keys (labcore.layout.EXTENSIONS)
    content_type: ClassVar[str]

    @property
    def object_size(self) -> int | None:
        """Bytes of every object, where all have one size; ``None`` where they vary."""

    def __len__(self) -> int: ...

    def label(self, index: int) -> int: ...

    def encoded(self, index: int) -> tuple[int, bytes]: ...


@dataclass(frozen=True)
class Split:
    """One split of an image-classification dataset: images and their labels."""

    extension: ClassVar[str] = "png"
    content_type: ClassVar[str] = "image/png"
    object_size: ClassVar[None] = None  # PNGs vary with their pixels

    name: str
    images: IdxArray
    labels: IdxArray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def rows(self) -> int:
        return self.images.shape[1]

    @property
    def cols(self) -> int:
        return self.images.shape[2]

    def sample(self, index: int) -> tuple[int, bytes]:
        """``(label, pixels)`` of sample ``index``."""
        return self.labels.data[index], self.images.item(index)

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for i in range(len(self)):
            yield self.sample(i)

    def label(self, index: int) -> int:
        """The label of sample ``index``."""
        return self.labels.data[index]

    def encoded(self, index: int) -> tuple[int, bytes]:
        """``(label, png)`` of sample ``index``: the object the seeder uploads."""
        label, pixels = self.sample(index)
        return label, encode_png(pixels, self.rows, self.cols)


def _find(directory: Path, base: str) -> Path:
    for candidate in (directory / base, directory / f"{base}.gz"):
        if candidate.exists():
            return candidate
    raise DataError(
        f"{directory}: no {base} or {base}.gz (expected MNIST-style IDX files: "
        f"{', '.join(b for pair in SPLIT_FILES.values() for b in pair)})"
    )


def load_split(directory: str | Path, split: str) -> Split:
    """Read and cross-check one split's images and labels from an IDX directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"source {directory} is not a directory of IDX files")
    image_base, label_base = SPLIT_FILES[split]
    image_path, label_path = _find(directory, image_base), _find(directory, label_base)
    images, labels = read_idx(image_path), read_idx(label_path)
    if len(images.shape) != 3:
        raise DataError(f"{image_path}: expected 3 dimensions (count, rows, cols), found {images.shape}")
    if len(labels.shape) != 1:
        raise DataError(f"{label_path}: expected 1 dimension (count), found {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{image_path} has {len(images)} images but {label_path} has {len(labels)} labels")
    bad = max(labels.data, default=0)
    if bad > 9:
        raise DataError(f"{label_path}: label {bad} is outside 0-9")
    return Split(split, images, labels)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, target: Path, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``target`` via a temporary file so a cut download never looks done."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, os.fdopen(fd, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress, leave=False
            ) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def idx_directory(
    source: str, cache_dir: str | Path, mirrors: Sequence[str] = (), *, progress: bool = True
) -> Path:
    """The directory of IDX files that ``SEED_SOURCE`` names: ``mnist``, downloaded into
    ``cache_dir`` (from ``mirrors``, else the usual ones) and checked; otherwise the directory itself."""
    if source == "mnist":
        return fetch_mnist(cache_dir, mirrors=mirrors or MNIST_MIRRORS, progress=progress)
    return Path(source)


def fetch_mnist(
    cache_dir: str | Path,
    *,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    checksums: Mapping[str, str] = MNIST_SHA256,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Make sure every file in ``checksums`` is in ``cache_dir`` with its SHA-256; return the dir.

    A cached file with the right checksum is used as is; otherwise each mirror is tried in turn and
    a download whose checksum differs is discarded.
    """
    cache = Path(cache_dir)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache, prefix=".write-test."):
            pass
    except OSError as exc:
        raise ConfigError(
            f"MNIST_CACHE_DIR={str(cache)!r} is not a writable directory ({exc.strerror or exc}): "
            "point MNIST_CACHE_DIR (or --cache-dir) at one"
        ) from None
    for name, expected in checksums.items():
        target = cache / name
        if target.exists() and _sha256(target) == expected:
            continue
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                _download(url, target, timeout, progress)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or exc
                failures.append(f"{url}: {reason}")
                continue
            actual = _sha256(target)
            if actual == expected:
                break
            target.unlink(missing_ok=True)
            failures.append(f"{url}: SHA-256 {actual[:12]}... is not the expected {expected[:12]}...")
        else:
            raise DataError(
                f"could not download {name} ({'; '.join(failures) or 'no mirrors'}); "
                "for offline use pass --source PATH with a directory of IDX files"
            )
    return cache


def dataset_name(source: str, directory: str | Path) -> str:
    """ "MNIST" for the verified download, a known dataset's name for its IDX files, else the
    directory's name ("IDX files from <dir>")."""
    if source == "mnist":
        return "MNIST"
    labels = _find(Path(directory), SPLIT_FILES["train"][1])
    opener = gzip.open if labels.suffix == ".gz" else open
    with opener(labels, "rb") as stream:
        # MNIST-style label files are 60,008 bytes; a larger one is no dataset the lab knows.
        digest = hashlib.sha256(stream.read(1 << 20)).hexdigest()
    return KNOWN_LABELS.get(digest, f"IDX files from {Path(directory).name}")
