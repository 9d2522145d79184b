import pytest

from labcore.layout import parse_key, sample_key, split_prefix


def test_sample_key_is_zero_padded_and_carries_the_label():
    assert sample_key("mnist", "train", 7, 42) == "mnist/train/7/00042.png"
    assert sample_key("mnist/", "test", 0, 59999) == "mnist/test/0/59999.png"


def test_parse_key_inverts_sample_key():
    for split, label, index in [("train", 0, 0), ("test", 9, 9999), ("train", 3, 123456)]:
        parts = parse_key(sample_key("data/mnist", split, label, index))
        assert (parts.prefix, parts.split, parts.label, parts.index) == ("data/mnist", split, label, index)


@pytest.mark.parametrize(
    "key",
    [
        "mnist/train/10/00001.png",
        "mnist/valid/1/00001.png",
        "mnist/train/1/x.png",
        "mnist/train/1/1.jpg",
        "train/1/1.png",
    ],
)
def test_parse_key_rejects_keys_outside_the_layout(key):
    with pytest.raises(ValueError, match="is not <prefix>"):
        parse_key(key)


def test_invalid_parts_are_refused():
    with pytest.raises(ValueError):
        sample_key("mnist", "train", 10, 1)
    with pytest.raises(ValueError):
        sample_key("mnist", "train", 1, -1)
    with pytest.raises(ValueError):
        split_prefix("mnist", "validation")
