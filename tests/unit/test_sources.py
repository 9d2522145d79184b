import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from labcore.errors import ConfigError, DataError
from labcore.sources import dataset_name, fetch_mnist, load_split
from tests.conftest import idx_bytes


def test_load_split_reads_what_was_written(make_dataset):
    directory, samples = make_dataset({"train": 13, "test": 4})
    for name in ("train", "test"):
        split = load_split(directory, name)
        assert (len(split), split.rows, split.cols) == (len(samples[name]), 28, 28)
        assert list(split) == samples[name]


def test_raw_files_work_as_well_as_gz(make_dataset):
    directory, samples = make_dataset({"test": 3}, gz=False)
    assert list(load_split(directory, "test")) == samples["test"]


def test_missing_file_is_named(make_dataset):
    directory, _ = make_dataset({"train": 2})
    with pytest.raises(DataError, match="no t10k-images-idx3-ubyte or t10k-images-idx3-ubyte.gz"):
        load_split(directory, "test")
    with pytest.raises(DataError, match="is not a directory"):
        load_split(directory / "nowhere", "train")


def test_inconsistent_files_are_refused(make_dataset):
    directory, _ = make_dataset({"train": 3}, gz=False)
    (directory / "train-labels-idx1-ubyte").write_bytes(idx_bytes((2,), b"\x01\x02"))
    with pytest.raises(DataError, match="has 3 images but .* has 2 labels"):
        load_split(directory, "train")
    (directory / "train-labels-idx1-ubyte").write_bytes(idx_bytes((3,), b"\x01\x02\x0c"))
    with pytest.raises(DataError, match="label 12 is outside 0-9"):
        load_split(directory, "train")


class _Mirror:
    """A local HTTP server standing in for the MNIST mirrors, counting requests."""

    def __init__(self, root: Path):
        handler = lambda *a, **kw: _QuietHandler(*a, directory=str(root), **kw)  # noqa: E731
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.requests = []  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def requests(self) -> list[str]:
        return self.server.requests  # type: ignore[attr-defined]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path):
    root = tmp_path / "www"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    server = _Mirror(root)
    server.thread.start()
    yield root, server
    server.server.shutdown()
    server.server.server_close()


def _publish(root: Path, sub: str, files: dict[str, bytes]) -> dict[str, str]:
    for name, content in files.items():
        (root / sub / name).write_bytes(content)
    return {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}


def test_download_verifies_and_caches(mirror, tmp_path):
    root, server = mirror
    sums = _publish(root, "a", {"x.gz": b"first file", "y.gz": b"second file"})
    cache = tmp_path / "cache"
    fetch_mnist(cache, mirrors=[f"{server.url}/a/"], checksums=sums, progress=False)
    assert (cache / "x.gz").read_bytes() == b"first file"
    assert len(server.requests) == 2
    fetch_mnist(cache, mirrors=[f"{server.url}/a/"], checksums=sums, progress=False)
    assert len(server.requests) == 2, "a verified cache must not be downloaded again"
    assert not [p for p in cache.iterdir() if p.name.startswith(".")], "no temporary files left"


def test_falls_back_to_the_next_mirror(mirror, tmp_path):
    root, server = mirror
    sums = _publish(root, "b", {"x.gz": b"only on b"})
    fetch_mnist(
        tmp_path / "c", mirrors=[f"{server.url}/a", f"{server.url}/b"], checksums=sums, progress=False
    )
    assert server.requests == ["/a/x.gz", "/b/x.gz"]


def test_wrong_checksum_is_rejected_and_not_kept(mirror, tmp_path):
    root, server = mirror
    _publish(root, "a", {"x.gz": b"tampered"})
    sums = {"x.gz": hashlib.sha256(b"original").hexdigest()}
    with pytest.raises(DataError, match=r"could not download x\.gz .*SHA-256 .* is not the expected"):
        fetch_mnist(tmp_path / "c", mirrors=[f"{server.url}/a/"], checksums=sums, progress=False)
    assert not (tmp_path / "c" / "x.gz").exists()


def test_unreachable_mirrors_say_how_to_work_offline(tmp_path):
    with pytest.raises(DataError, match="--source PATH"):
        fetch_mnist(
            tmp_path / "c",
            mirrors=["http://127.0.0.1:9/"],
            checksums={"x.gz": "0" * 64},
            progress=False,
            timeout=2,
        )


def test_cache_dir_must_be_writable(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="MNIST_CACHE_DIR=.* is not a writable directory"):
        fetch_mnist(tmp_path / "file" / "sub", checksums={}, progress=False)


FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_a_dataset_is_called_by_its_name(make_dataset, tmp_path):
    """Fashion-MNIST by its labels, whatever the files' compression; MNIST as the download; any
    other IDX directory by its folder's name."""
    directory, _ = make_dataset({"train": 5, "test": 1})
    assert dataset_name("mnist", tmp_path) == "MNIST"
    assert dataset_name(str(directory), directory) == f"IDX files from {directory.name}"
    if not FASHION.is_dir():
        pytest.fail(f"no Fashion-MNIST at {FASHION}: apt-get install dataset-fashion-mnist")
    assert dataset_name(str(FASHION), FASHION) == "Fashion-MNIST"
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "train-labels-idx1-ubyte").write_bytes(
        gzip.decompress((FASHION / "train-labels-idx1-ubyte.gz").read_bytes())
    )
    assert dataset_name(str(raw), raw) == "Fashion-MNIST"
