import pytest

from labcore.layout import SampleKey, index_width, parse_key, sample_key, split_prefix


def test_sample_key_is_zero_padded_and_carries_the_label():
    assert sample_key("mnist", "train", 7, 42) == "mnist/train/7/00042.png"
    assert sample_key("mnist/", "test", 0, 59999) == "mnist/test/0/59999.png"


def test_parse_key_inverts_sample_key():
    for split, label, index in [("train", 0, 0), ("test", 9, 9999), ("train", 3, 123456)]:
        parts = parse_key(sample_key("data/mnist", split, label, index))
        assert (parts.prefix, parts.split, parts.label, parts.index) == ("data/mnist", split, label, index)


def test_other_datasets_have_labels_to_999_other_extensions_and_wider_indexes():
    key = sample_key("imagenet", "train", 999, 1_281_166, extension="jpg", width=index_width(1_281_167))
    assert key == "imagenet/train/999/1281166.jpg"
    assert parse_key(key) == SampleKey("imagenet", "train", 999, 1_281_166, "jpg")
    assert sample_key("s", "test", 10, 3, extension="bin") == "s/test/10/00003.bin"
    # MNIST's keys are what they were: five digits up to 100,000 samples.
    assert index_width(60_000) == index_width(100_000) == 5 and index_width(100_001) == 6


@pytest.mark.parametrize(
    "key",
    [
        "mnist/train/1000/00001.png",
        "mnist/train/07/00001.png",
        "mnist/valid/1/00001.png",
        "mnist/train/1/x.png",
        "mnist/train/1/1.gif",
        "mnist/train/1/1.png.tmp",
        "train/1/1.png",
    ],
)
def test_parse_key_rejects_keys_outside_the_layout(key):
    with pytest.raises(ValueError, match="is not <prefix>"):
        parse_key(key)


def test_invalid_parts_are_refused():
    with pytest.raises(ValueError):
        sample_key("mnist", "train", 1000, 1)
    with pytest.raises(ValueError):
        sample_key("mnist", "train", 1, 1, extension="gif")
    with pytest.raises(ValueError):
        sample_key("mnist", "train", 1, -1)
    with pytest.raises(ValueError):
        split_prefix("mnist", "validation")
