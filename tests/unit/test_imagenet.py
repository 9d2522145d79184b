"""The ImageNet-like profile (issue 23): sizes from the documented distribution, JPEGs of exactly
their drawn size, the same bytes on every run, decoded as ImageNet training does."""

from __future__ import annotations

import io
import random
import statistics

import pytest
import torch
from PIL import Image

from labcore import imagenet
from labcore.synthetic import ImagenetSplit, SyntheticSpec, parse_synthetic
from trainer.transforms import collate_samples, decode_sample


def test_sizes_follow_the_documented_median_and_spread():
    sizes = [imagenet.draw(0, "train", i, 1000)[2] for i in range(20000)]
    assert abs(statistics.median(sizes) / imagenet.MEDIAN - 1) < 0.03
    # sigma 0.5 of the log: the quartiles sit exp(+-0.674 x 0.5) from the median.
    quartiles = statistics.quantiles(sizes, n=4)
    assert (
        abs(quartiles[0] / imagenet.MEDIAN - 0.714) < 0.03
        and abs(quartiles[2] / imagenet.MEDIAN - 1.40) < 0.04
    )
    # A mean of about 109 KB, as ILSVRC-2012's ~140 GB over 1.28 M JPEGs gives 110-115 kB.
    assert 105 << 10 < statistics.mean(sizes) < 113 << 10
    assert min(sizes) >= imagenet.MIN_SIZE and max(sizes) <= imagenet.MAX_SIZE


@pytest.mark.parametrize("size", [imagenet.MIN_SIZE, 96 << 10, 250_001, imagenet.MAX_SIZE])
def test_a_jpeg_has_exactly_its_size_and_decodes(size):
    body = imagenet.jpeg(random.Random(size), size)
    assert len(body) == size and body[:2] == b"\xff\xd8"
    with Image.open(io.BytesIO(body)) as image:
        image.load()
        assert image.format == "JPEG" and image.mode == "RGB"
        # As many pixels as the size pays for at ~0.53 bytes per pixel, at most.
        assert image.width * image.height <= size / imagenet.BYTES_PER_PIXEL


@pytest.mark.parametrize("extra", [0, 4, 5, 65537, 65538, 65540, 65541, 200_003])
def test_padding_adds_exactly_its_bytes_in_segments_decoders_skip(extra):
    body = imagenet.jpeg(random.Random(1), imagenet.MIN_SIZE)
    padded = imagenet._pad(body, extra, random.Random(2))
    assert len(padded) == len(body) + extra
    with Image.open(io.BytesIO(padded)) as image, Image.open(io.BytesIO(body)) as plain:
        assert image.tobytes() == plain.tobytes()


def test_a_size_under_the_profile_s_floor_is_refused():
    with pytest.raises(ValueError, match="8192 bytes at least"):
        imagenet.jpeg(random.Random(0), 1000)


def test_the_spec_names_the_profile_with_a_thousand_labels():
    spec = parse_synthetic("synthetic:64:imagenet")
    assert spec == SyntheticSpec(64, None, labels=1000, seed=0)
    assert (
        spec.describe()
        == "synthetic 64 x ImageNet-like JPEGs (median 96 KB, sigma 0.5) (1000 labels, seed 0)"
    )
    assert parse_synthetic("synthetic:64:ImageNet:labels=10:seed=3") == SyntheticSpec(64, None, 10, 3)
    assert isinstance(spec.split("train"), ImagenetSplit)


def test_a_split_makes_the_same_labelled_jpegs_on_every_run():
    spec = SyntheticSpec(12, None, labels=1000, seed=5)
    train = spec.split("train")
    first = [train.encoded(i) for i in range(len(train))]
    assert first == [spec.split("train").encoded(i) for i in range(12)]
    assert [label for label, _ in first] == [train.label(i) for i in range(12)]
    assert [len(body) for _, body in first] == [train.size(i) for i in range(12)]
    assert len({label for label, _ in first}) > 6 and max(label for label, _ in first) < 1000
    assert (train.extension, train.content_type, train.object_size) == ("jpg", "image/jpeg", None)
    assert spec.split("test").encoded(0) != first[0]
    with pytest.raises(IndexError):
        train.encoded(12)


def test_a_jpg_decodes_to_its_224_square_centre_in_uint8_and_batches_stack():
    split = SyntheticSpec(3, None, labels=1000).split("train")
    samples = []
    for index in range(3):
        label, body = split.encoded(index)
        key = f"bench-sizes/imagenet/train/{label}/{index:05d}.jpg"
        samples.append(decode_sample(key, body))
        assert samples[-1].usable and samples[-1].label == label and samples[-1].nbytes == len(body)
        assert samples[-1].image.shape == (3, 224, 224) and samples[-1].image.dtype == torch.uint8
    batch = collate_samples(samples)
    assert batch.images.shape == (3, 3, 224, 224) and batch.nbytes == sum(s.nbytes for s in samples)


def test_an_object_that_is_no_jpeg_is_a_problem_not_a_crash():
    png = io.BytesIO()
    Image.new("RGB", (30, 30)).save(png, "PNG")
    as_png = decode_sample("x/train/1/00000.jpg", png.getvalue())
    cut = decode_sample("x/train/1/00001.jpg", imagenet.jpeg(random.Random(0), imagenet.MIN_SIZE)[:100])
    assert (as_png.usable, as_png.problem, as_png.nbytes) == (
        False,
        "PNG image, not JPEG",
        len(png.getvalue()),
    )
    assert not cut.usable and cut.problem.startswith("not a readable JPEG")
    batch = collate_samples([as_png, cut])
    assert len(batch.problems) == 2 and batch.nbytes == as_png.nbytes + 100
