"""Every loader, with real DataLoader worker processes, against a real MinIO server."""

from __future__ import annotations

from collections import Counter

import pytest

from labcore.clients import minio_client
from labcore.layout import sample_key
from labcore.settings import load_settings
from labcore.sources import load_split
from seeder.upload import seed
from tests.conftest import write_dataset
from tests.integration.conftest import server_env
from trainer.datasets import build_loader

COUNTS = {"train": 37, "test": 11}  # prime counts: no worker count divides them


@pytest.fixture(scope="module")
def seeded(minio_server, tmp_path_factory):
    """A bucket seeded once for the module; the settings to reach it and the expected keys."""
    env = server_env(minio_server)
    settings = load_settings(environ=env)
    directory = tmp_path_factory.mktemp("idx")
    samples = write_dataset(directory, COUNTS)
    splits = [load_split(directory, name) for name in COUNTS]
    seed(minio_client(settings), settings.bucket, settings.data_prefix, splits, progress=False)
    expected = {
        split: {sample_key("mnist", split, label, i) for i, (label, _) in enumerate(items)}
        for split, items in samples.items()
    }
    return settings, expected


def use_credentials(monkeypatch, settings):
    """The connector's CRT client reads credentials from the process environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", settings.aws_access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", settings.aws_secret_access_key)
    monkeypatch.setenv("AWS_REGION", settings.aws_region)


def epoch_keys(settings, kind, split, workers, *, shuffle, buffer=8, epoch=1, batch_size=5):
    loader = build_loader(
        kind,
        settings,
        split,
        batch_size=batch_size,
        workers=workers,
        shuffle=shuffle,
        shuffle_buffer=buffer,
        seed=7,
    )
    keys: list[str] = []
    for images, labels, batch_keys, _, problems in loader.epoch(epoch):
        assert not problems
        assert images.shape[1:] == (1, 28, 28)
        assert labels.tolist() == [int(k.split("/")[-2]) for k in batch_keys]
        keys.extend(batch_keys)
    return keys


@pytest.mark.parametrize("workers", [0, 1, 2, 3, 4])
@pytest.mark.parametrize(
    "kind,shuffle", [("s3iter", False), ("s3iter", True), ("map", True), ("manual", True)]
)
def test_every_object_exactly_once(seeded, monkeypatch, kind, shuffle, workers):
    settings, expected = seeded
    use_credentials(monkeypatch, settings)
    for split in ("train", "test"):
        keys = epoch_keys(settings, kind, split, workers, shuffle=shuffle)
        duplicates = [k for k, n in Counter(keys).items() if n > 1]
        assert not duplicates, duplicates
        assert set(keys) == expected[split]


def test_shuffle_is_seeded_per_epoch(seeded, monkeypatch):
    settings, _ = seeded
    use_credentials(monkeypatch, settings)
    first = epoch_keys(settings, "s3iter", "train", 2, shuffle=True, buffer=16, epoch=1)
    again = epoch_keys(settings, "s3iter", "train", 2, shuffle=True, buffer=16, epoch=1)
    other = epoch_keys(settings, "s3iter", "train", 2, shuffle=True, buffer=16, epoch=2)
    listing = epoch_keys(settings, "s3iter", "train", 0, shuffle=False)
    assert first == again
    assert first != other and sorted(first) == sorted(other)
    assert first != listing
