"""The three ways the lab loads samples from MinIO, behind one function.

- ``s3iter``: ``S3IterableDataset.from_prefix(..., enable_sharding=True)``, the connector's
  streaming dataset; objects are split over ranks and DataLoader workers by position in the listing.
- ``map``: ``S3MapDataset.from_prefix``, random access, so the DataLoader can shuffle.
- ``manual``: a hand-written IterableDataset on the MinIO SDK, sharded with ``worker_info`` the
  same way, the seed post's loader done right.

S3 lists keys in lexicographic order, and our keys start with the label, so an unshuffled stream
arrives one class after another. Iterable loaders therefore pass through a seeded shuffle buffer
(``--shuffle-buffer``) before decoding; the map loader shuffles indices instead.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from labcore.clients import minio_client
from labcore.layout import split_prefix
from labcore.settings import Settings
from trainer.transforms import DecodePng, ReadObject, decode_sample


def s3_uri(settings: Settings, split: str) -> str:
    """``s3://<bucket>/<prefix>/<split>/``."""
    return f"s3://{settings.bucket}/{split_prefix(settings.data_prefix, split)}"


def connector_config():
    """S3 client settings for MinIO: path-style addressing.

    The connector defaults to virtual-hosted style (``bucket.host``), which a Compose hostname
    such as ``minio`` cannot resolve.
    """
    from s3torchconnector import S3ClientConfig

    return S3ClientConfig(force_path_style=True, max_attempts=3)


def distributed_position() -> tuple[int, int]:
    """``(rank, world_size)`` of this process; ``(0, 1)`` outside torch.distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def shard(items: Iterator, rank: int, world: int) -> Iterator:
    """The items of this (rank, worker) shard: position modulo ranks, then modulo workers.

    The same rule as ``S3IterableDataset``'s, so every loader splits work identically: each item
    goes to exactly one worker of one rank, whatever the counts.
    """
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    for position, item in enumerate(items):
        if position % world == rank and (position // world) % workers == worker:
            yield item


class ManualPrefixDataset(IterableDataset):
    """Every object under a prefix as ``(key, bytes)``, via the MinIO SDK, sharded by worker.

    The client is made inside ``__iter__``: one per worker process, since an SDK client (its
    connection pool) must not be shared across a fork.
    """

    def __init__(self, settings: Settings, split: str):
        self.settings = settings
        self.prefix = split_prefix(settings.data_prefix, split)
        self.rank, self.world = distributed_position()

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        client = minio_client(self.settings, convention="s3", pool_size=2)
        listing = (
            o.object_name
            for o in client.list_objects(self.settings.bucket, prefix=self.prefix, recursive=True)
        )
        for key in shard(listing, self.rank, self.world):
            response = client.get_object(self.settings.bucket, key)
            try:
                yield key, response.read()
            finally:
                response.close()
                response.release_conn()


class ShuffleDecode(IterableDataset):
    """Decode ``(key, bytes)`` items from ``source``, through a seeded shuffle buffer.

    With ``buffer_size`` 0 the order is kept. The seed mixes ``seed``, the epoch and the worker,
    so a run is repeatable and each epoch sees another order.
    """

    def __init__(self, source: IterableDataset, buffer_size: int, seed: int):
        self.source = source
        self.buffer_size = buffer_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        items = iter(self.source)
        if self.buffer_size > 0:
            items = self._shuffled(items)
        for key, data in items:
            yield decode_sample(key, data)

    def _shuffled(self, items: Iterator) -> Iterator:
        info = get_worker_info()
        rng = random.Random(f"{self.seed}:{self.epoch}:{info.id if info else -1}")
        buffer: list = []
        for item in items:
            if len(buffer) < self.buffer_size:
                buffer.append(item)
                continue
            index = rng.randrange(len(buffer))
            buffer[index], item = item, buffer[index]
            yield item
        rng.shuffle(buffer)
        yield from buffer


@dataclass
class Loader:
    """A DataLoader factory for one split; ``epoch(n)`` gives that epoch's DataLoader."""

    dataset: Dataset
    batch_size: int
    workers: int
    shuffle_indices: bool
    seed: int

    def epoch(self, epoch: int) -> DataLoader:
        if isinstance(self.dataset, ShuffleDecode):
            self.dataset.set_epoch(epoch)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            num_workers=self.workers,
            shuffle=self.shuffle_indices,
            generator=generator if self.shuffle_indices else None,
            # Each worker keeps a couple of batches ready while the model computes.
            prefetch_factor=4 if self.workers > 0 else None,
            persistent_workers=False,
        )


def build_loader(
    kind: str,
    settings: Settings,
    split: str,
    *,
    batch_size: int,
    workers: int,
    shuffle: bool,
    shuffle_buffer: int,
    seed: int,
) -> Loader:
    """The loader ``kind`` (s3iter, map, manual) over one split of the dataset."""
    from s3torchconnector import S3IterableDataset, S3MapDataset

    common = {
        "region": settings.aws_region,
        "endpoint": settings.aws_endpoint_url,
        "s3client_config": connector_config(),
    }
    if kind == "map":
        dataset = S3MapDataset.from_prefix(s3_uri(settings, split), transform=DecodePng(), **common)
        return Loader(dataset, batch_size, workers, shuffle_indices=shuffle, seed=seed)
    if kind == "s3iter":
        if not shuffle or shuffle_buffer == 0:
            dataset = S3IterableDataset.from_prefix(
                s3_uri(settings, split), transform=DecodePng(), enable_sharding=True, **common
            )
            return Loader(dataset, batch_size, workers, shuffle_indices=False, seed=seed)
        source = S3IterableDataset.from_prefix(
            s3_uri(settings, split), transform=ReadObject(), enable_sharding=True, **common
        )
    elif kind == "manual":
        source = ManualPrefixDataset(settings, split)
    else:
        raise ValueError(f"unknown loader {kind!r}")
    dataset = ShuffleDecode(source, shuffle_buffer if shuffle else 0, seed)
    return Loader(dataset, batch_size, workers, shuffle_indices=False, seed=seed)
