import hashlib
import zlib

import pytest

from labcore.errors import ConfigError
from labcore.settings import load_settings
from labcore.synthetic import SyntheticSpec, SyntheticSplit, format_size, parse_size, parse_synthetic


@pytest.mark.parametrize(
    ("text", "size"),
    [("1024", 1024), ("1K", 1024), ("16KB", 16384), ("128KiB", 131072), ("1MB", 1 << 20), ("3 mib", 3 << 20)],
)
def test_sizes_are_bytes_or_binary_units(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "KB", "1.5MB", "1GB", "-1", "12 parsecs"])
def test_a_size_outside_the_form_is_refused(text):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


def test_sizes_read_back_as_given():
    assert [format_size(n) for n in (1024, 131072, 1 << 20, 1000)] == ["1 KB", "128 KB", "1 MB", "1000 B"]


def test_a_spec_reads_count_size_and_options():
    assert parse_synthetic("mnist") is None and parse_synthetic("/data/idx") is None
    assert parse_synthetic("synthetic:2000:128KB") == SyntheticSpec(2000, 131072, labels=10, seed=0)
    spec = parse_synthetic("synthetic:10:1MB:labels=1000:seed=7")
    assert spec == SyntheticSpec(10, 1 << 20, labels=1000, seed=7)
    assert spec.describe() == "synthetic 10 x 1 MB (1000 labels, seed 7)"
    assert (spec.split_count("train"), spec.split_count("test")) == (10, 2)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("synthetic:", "a count and a size are needed"),
        ("synthetic:100", "a count and a size are needed"),
        ("synthetic:0:1KB", "count '0' is not a whole number"),
        ("synthetic:ten:1KB", "count 'ten' is not a whole number"),
        ("synthetic:10:1GB", "'1GB' is not a size"),
        ("synthetic:10:0", "the size must be 1 byte to 256 MB"),
        ("synthetic:10:1KB:labels=0", "labels must be 1 to 1000"),
        ("synthetic:10:1KB:classes=3", "'classes=3' is not labels=N or seed=S"),
    ],
)
def test_a_malformed_spec_is_one_line_from_the_settings(text, why, tmp_path):
    env = tmp_path / "env"
    env.write_text(f"SEED_SOURCE={text}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    message = str(caught.value)
    assert message.startswith(f"SEED_SOURCE={text!r}: ") and why in message and "\n" not in message
    assert "synthetic:<count>:<size|imagenet>" in message


def test_objects_are_the_size_asked_for_and_the_same_on_every_run():
    spec = SyntheticSpec(50, 1000, labels=7, seed=3)
    train = SyntheticSplit(spec, "train")
    first = [train.encoded(i) for i in range(len(train))]
    assert len(train) == 50 and all(len(body) == 1000 for _, body in first)
    assert first == [SyntheticSplit(spec, "train").encoded(i) for i in range(50)]
    assert [label for label, _ in first] == [train.label(i) for i in range(50)]
    assert {label for label, _ in first} <= set(range(7)) and len({label for label, _ in first}) > 1
    assert len({body for _, body in first}) == 50
    # Another seed and the other split make other bytes.
    other_seed = SyntheticSplit(SyntheticSpec(50, 1000, labels=7, seed=4), "train").encoded(0)[1]
    test = SyntheticSplit(spec, "test").encoded(0)[1]
    assert len({first[0][1], other_seed, test}) == 3


def test_the_bytes_do_not_compress():
    """Random bytes, so no server's or link's compression makes a size point cheaper than it is."""
    body = SyntheticSplit(SyntheticSpec(1, 64 << 10), "train").encoded(0)[1]
    assert len(zlib.compress(body, 9)) > len(body) * 0.99


def test_the_bytes_are_pinned():
    """A change to how bytes are made re-uploads every synthetic dataset: this catches it first."""
    label, body = SyntheticSplit(SyntheticSpec(1, 4096), "train").encoded(0)
    assert (label, hashlib.sha256(body).hexdigest()[:16]) == (4, "7e70ebe365e4f02a")


def test_an_index_outside_the_split_is_refused():
    split = SyntheticSplit(SyntheticSpec(3, 10), "train")
    with pytest.raises(IndexError):
        split.encoded(3)


def test_shard_bytes_take_a_size_and_refuse_anything_else(tmp_path):
    env = tmp_path / "env"
    env.write_text("SHARD_BYTES=100KB\n")
    assert load_settings(env).shard_bytes == 100 << 10
    assert load_settings(environ={}).shard_bytes == 64 << 20
    env.write_text("SHARD_BYTES=lots\n")
    with pytest.raises(
        ConfigError,
        match=r"^SHARD_BYTES='lots': 'lots' is not a size like 1024, 16KB or 1MB, e\.g\. SHARD_BYTES=64MB$",
    ):
        load_settings(env)
