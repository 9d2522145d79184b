"""Every loader, with real DataLoader worker processes, against a real MinIO server."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from labcore.clients import minio_client
from tests.integration.conftest import use_credentials
from trainer.datasets import build_loader, epoch_order
from trainer.measure import child_pids

COUNTS = {"train": 37, "test": 11}  # prime counts: no worker count divides them


@pytest.fixture(scope="module")
def seeded(seed_bucket):
    """A bucket seeded once for the module; the settings to reach it and the expected keys."""
    bucket = seed_bucket(COUNTS)
    return bucket.settings, bucket.keys


def make_loader(settings, kind, split, workers, *, shuffle, buffer=8, batch_size=5, read_ahead=1):
    return build_loader(
        kind,
        settings,
        split,
        batch_size=batch_size,
        workers=workers,
        shuffle=shuffle,
        shuffle_buffer=buffer,
        seed=7,
        read_ahead=read_ahead,
    )


def epoch_keys(
    settings, kind, split, workers, *, shuffle, buffer=8, epoch=1, batch_size=5, read_ahead=1, loader=None
):
    """The keys of one epoch in delivery order, checked batch by batch; from ``loader`` when given."""
    loader = loader or make_loader(
        settings,
        kind,
        split,
        workers,
        shuffle=shuffle,
        buffer=buffer,
        batch_size=batch_size,
        read_ahead=read_ahead,
    )
    keys: list[str] = []
    for batch in loader.epoch(epoch):
        assert not batch.problems
        assert batch.images.shape[1:] == (1, 28, 28)
        assert batch.labels.tolist() == [int(k.split("/")[-2]) for k in batch.keys]
        keys.extend(batch.keys)
    return keys


@pytest.mark.parametrize("workers", [0, 1, 2, 3, 4])
@pytest.mark.parametrize(
    "kind,shuffle",
    [("s3iter", False), ("s3iter", True), ("s3prefix", True), ("map", True), ("manual", True)],
)
def test_every_object_exactly_once(seeded, monkeypatch, kind, shuffle, workers):
    settings, expected = seeded
    use_credentials(monkeypatch, settings)
    for split in ("train", "test"):
        keys = epoch_keys(settings, kind, split, workers, shuffle=shuffle)
        duplicates = [k for k, n in Counter(keys).items() if n > 1]
        assert not duplicates, duplicates
        assert set(keys) == expected[split]


def children() -> set[int]:
    """This process's child processes (its DataLoader workers)."""
    return set(child_pids(os.getpid()))


@pytest.mark.parametrize("kind", ["s3iter", "s3prefix", "map", "manual"])
def test_workers_outlive_the_epoch_and_still_follow_it(seeded, monkeypatch, kind):
    """One loader for three epochs: the same worker processes serve them all, and each epoch's
    order is the one a loader made for that epoch alone delivers (the epoch reaches the workers)."""
    settings, expected = seeded
    use_credentials(monkeypatch, settings)
    before = children()
    loader = make_loader(settings, kind, "train", 2, shuffle=True)
    orders, workers = [], []
    for epoch in (1, 2, 3):
        orders.append(epoch_keys(settings, kind, "train", 2, shuffle=True, epoch=epoch, loader=loader))
        workers.append(children() - before)
    assert len(workers[0]) == 2 and workers[0] == workers[1] == workers[2], workers
    assert all(sorted(order) == sorted(expected["train"]) for order in orders)
    assert orders[0] != orders[1] != orders[2]
    for epoch, order in enumerate(orders, 1):
        assert order == epoch_keys(settings, kind, "train", 2, shuffle=True, epoch=epoch), f"epoch {epoch}"


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


def test_s3iter_streams_a_permutation_of_the_whole_split(seeded, monkeypatch):
    """Not a buffer's local mixing: the seeded permutation of every listed key, then the workers' deal."""
    settings, expected = seeded
    use_credentials(monkeypatch, settings)
    order = epoch_order(sorted(expected["train"]), 7, 3)
    assert epoch_keys(settings, "s3iter", "train", 0, shuffle=True, buffer=0, epoch=3) == order
    # Two workers: the connector deals position i to worker i % 2, and batches of 5 alternate.
    two = epoch_keys(settings, "s3iter", "train", 2, shuffle=True, buffer=0, epoch=3)
    per_worker = [order[0::2], order[1::2]]
    dealt = [key for i in range(0, 40, 5) for w in (0, 1) for key in per_worker[w][i : i + 5]]
    assert two == dealt
    # s3prefix keeps the listing order when there is no buffer.
    assert epoch_keys(settings, "s3prefix", "train", 0, shuffle=True, buffer=0) == sorted(expected["train"])


def jitter(monkeypatch) -> None:
    """A random delay before every read-ahead fetch, so completions come back out of order.

    Patched in this process before the DataLoader forks its workers, which inherit it.
    """
    import random
    import time

    import trainer.readahead

    original = trainer.readahead.read_ahead

    def jittered(items, fetch, depth):
        def slow(item):
            time.sleep(random.uniform(0, 0.01))
            return fetch(item)

        return original(items, slow, depth)

    monkeypatch.setattr(trainer.readahead, "read_ahead", jittered)


@pytest.mark.parametrize("workers", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("kind", ["s3iter", "manual"])
def test_read_ahead_delivers_exactly_once_in_the_same_order(seeded, monkeypatch, kind, workers):
    settings, expected = seeded
    use_credentials(monkeypatch, settings)
    one_at_a_time = epoch_keys(settings, kind, "train", workers, shuffle=True, read_ahead=1)
    jitter(monkeypatch)
    ahead = epoch_keys(settings, kind, "train", workers, shuffle=True, read_ahead=8)
    again = epoch_keys(settings, kind, "train", workers, shuffle=True, read_ahead=8)
    assert ahead == again == one_at_a_time
    assert len(ahead) == len(set(ahead)) and set(ahead) == expected["train"]
    # Evaluation (no shuffle) reads ahead too, in listing order.
    listed = epoch_keys(settings, kind, "test", workers, shuffle=False, read_ahead=8)
    assert sorted(listed) == sorted(expected["test"]) and len(listed) == len(expected["test"])


def test_the_connector_readers_can_be_asked_again(seeded, monkeypatch):
    """``read_object`` asks again through the reader's own stream factory (connector 1.5): every
    reader the connector hands a transform has one, and a second GET from it gives the same bytes."""
    from s3torchconnector import S3IterableDataset, S3MapDataset

    from trainer.connector import connector_args
    from trainer.readahead import keep_reader
    from trainer.transient import read_object

    settings, expected = seeded
    use_credentials(monkeypatch, settings)
    key = sorted(expected["test"])[0]
    uri = f"s3://{settings.bucket}/{key}"
    args = connector_args(settings)
    readers = [
        next(iter(S3IterableDataset.from_objects([uri], transform=keep_reader, **args))),
        S3MapDataset.from_objects([uri], transform=keep_reader, **args)[0],
    ]
    body = minio_client(settings).get_object(settings.bucket, key).read()
    for reader in readers:
        assert read_object(reader) == body
        assert b"".join(reader._get_stream()) == body  # what a retry reads
