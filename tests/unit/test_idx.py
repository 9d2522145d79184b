import gzip
import tracemalloc

import pytest

from labcore.errors import DataError
from labcore.idx import parse_idx, read_idx
from tests.conftest import idx_bytes


def test_parse_images_and_items():
    data = bytes(range(2 * 3 * 4))
    array = parse_idx(idx_bytes((2, 3, 4), data))
    assert array.shape == (2, 3, 4)
    assert len(array) == 2
    assert array.item(1) == data[12:]


@pytest.mark.parametrize(
    "raw,message",
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x02\x08\x01" + b"\x00" * 8, "not an IDX file"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01" + b"\x00" * 4, "is not unsigned byte"),
        (b"\x00\x00\x08\x03\x00\x00", "header is cut short"),
        (idx_bytes((3, 2, 2), bytes(11)), "needs 12 bytes of data, found 11"),
        (idx_bytes((3,), bytes(4)), "needs 3 bytes of data, found 4"),
    ],
)
def test_malformed_idx_is_refused_with_the_reason(raw, message):
    with pytest.raises(DataError, match=message):
        parse_idx(raw, "x.idx")


def test_read_raw_and_gzip(tmp_path):
    raw = idx_bytes((2,), b"\x03\x07")
    (tmp_path / "a").write_bytes(raw)
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    assert read_idx(tmp_path / "a").data == read_idx(tmp_path / "a.gz").data == b"\x03\x07"


def test_corrupt_gzip_names_the_file(tmp_path):
    good = gzip.compress(idx_bytes((100,), bytes(100)))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.gz").write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match=r"cut\.gz: corrupt gzip data"):
        read_idx(tmp_path / "cut.gz")
    with pytest.raises(DataError, match=r"junk\.gz: corrupt gzip data"):
        read_idx(tmp_path / "junk.gz")


def test_unreadable_path_is_a_data_error(tmp_path):
    (tmp_path / "dir.gz").mkdir()
    with pytest.raises(DataError, match="cannot read it"):
        read_idx(tmp_path / "dir.gz")
    with pytest.raises(DataError, match="cannot read it"):
        read_idx(tmp_path / "missing")


def test_a_gzip_bomb_is_refused_without_being_read_into_memory(tmp_path):
    # 28x28 images declared, 4 of them, followed by 128 MiB of zeros (130 KB compressed).
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as out:
        out.write(idx_bytes((4, 28, 28), bytes(4 * 28 * 28)))
        zeros = bytes(1 << 20)
        for _ in range(128):
            out.write(zeros)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"needs 3136 bytes of data, found more than 3136"):
            read_idx(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak  # the declared size and gzip's buffers, not the 128 MiB


def test_a_header_declaring_more_than_the_lab_reads_is_refused(tmp_path):
    huge = tmp_path / "t10k-images-idx3-ubyte.gz"
    huge.write_bytes(gzip.compress(idx_bytes((10**6, 1000, 1000), b"")))
    with pytest.raises(
        DataError, match=r"declares 1000000000000 bytes, more than the 1073741824 the lab reads"
    ):
        read_idx(huge)
