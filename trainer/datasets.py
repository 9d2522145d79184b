"""The three ways the lab loads samples from MinIO, behind one function.

- ``s3iter``: ``S3IterableDataset.from_prefix(..., enable_sharding=True)``, the connector's
  streaming dataset; objects are split over ranks and DataLoader workers by position in the listing.
- ``map``: ``S3MapDataset.from_prefix``, random access, so the DataLoader can shuffle.
- ``manual``: a hand-written IterableDataset on the MinIO SDK, sharded with ``worker_info`` the
  same way, the seed post's loader done right.
- ``shards``: ``S3IterableDataset`` over the tar shards the seeder writes with ``--format shards``;
  each tar is decoded as a stream straight from the connector's reader, one GET per shard.

S3 lists keys in lexicographic order, and our keys start with the label, so an unshuffled stream
arrives one class after another. Iterable loaders therefore pass through a seeded shuffle buffer
(``--shuffle-buffer``) before decoding; the map loader shuffles indices instead.
"""

from __future__ import annotations

import random
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info

from labcore.clients import minio_client
from labcore.errors import DataError
from labcore.layout import sample_key, split_prefix
from labcore.settings import Settings
from labcore.shards import iter_shard, parse_member, shards_prefix
from trainer.transforms import DecodePng, ReadObject, collate_samples, decode_sample


def s3_uri(settings: Settings, split: str, *, shards: bool = False) -> str:
    """``s3://<bucket>/<prefix>/<split>/`` (``<prefix>-shards`` for the shard layout)."""
    prefix = shards_prefix(settings.data_prefix) if shards else settings.data_prefix
    return f"s3://{settings.bucket}/{split_prefix(prefix, split)}"


def epoch_order(items: list[str], seed: int, epoch: int) -> list[str]:
    """``items`` in this epoch's order: the same for every worker and rank, another each epoch."""
    order = sorted(items)
    random.Random(f"order:{seed}:{epoch}").shuffle(order)
    return order


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
    connection pool) must not be shared across a fork. With ``shuffle`` the key order is
    reshuffled every epoch from the seed, identically in every worker, before sharding.
    """

    def __init__(self, settings: Settings, split: str, *, shuffle: bool = False, seed: int = 0):
        self.settings = settings
        self.prefix = split_prefix(settings.data_prefix, split)
        self.rank, self.world = distributed_position()
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        client = minio_client(self.settings, convention="s3", pool_size=2)
        keys = [
            o.object_name
            for o in client.list_objects(self.settings.bucket, prefix=self.prefix, recursive=True)
        ]
        if self.shuffle:
            keys = epoch_order(keys, self.seed, self.epoch)
        for key in shard(iter(keys), self.rank, self.world):
            response = client.get_object(self.settings.bucket, key)
            try:
                yield key, response.read()
            finally:
                response.close()
                response.release_conn()


class OpenShard:
    """Transform for the connector: ``S3Reader`` of a tar shard -> its members, lazily.

    The reader is consumed front to back by ``tarfile`` in stream mode while the members are
    iterated: no seek, no temporary file, one member in hand at a time.
    """

    def __call__(self, reader) -> Iterator[tuple[str, bytes]]:
        return iter_shard(reader)


class ShardSamples(IterableDataset):
    """``(key, bytes)`` for every sample in the shards of one split.

    Shards are split over ranks and workers by the connector (``enable_sharding=True``). With
    fewer shards than workers the extra workers get none and yield nothing: every sample still
    arrives exactly once, only parallelism is lost, so keep shards >= workers x ranks. With
    ``shuffle`` the shard order is reshuffled every epoch from the seed, via ``from_objects``
    (``from_prefix`` always follows the listing order).
    """

    def __init__(self, settings: Settings, split: str, shard_keys: list[str], *, shuffle: bool, seed: int):
        self.settings = settings
        self.split = split
        self.shard_keys = sorted(shard_keys)
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _source(self):
        from s3torchconnector import S3IterableDataset

        common = {
            "region": self.settings.aws_region,
            "endpoint": self.settings.aws_endpoint_url,
            "s3client_config": connector_config(),
            "transform": OpenShard(),
            "enable_sharding": True,
        }
        if not self.shuffle:
            return S3IterableDataset.from_prefix(s3_uri(self.settings, self.split, shards=True), **common)
        uris = [
            f"s3://{self.settings.bucket}/{k}" for k in epoch_order(self.shard_keys, self.seed, self.epoch)
        ]
        return S3IterableDataset.from_objects(uris, **common)

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        for members in self._source():
            name = "?"
            try:
                for name, data in members:
                    index, label = parse_member(name)
                    yield sample_key(self.settings.data_prefix, self.split, label, index), data
            except (ValueError, tarfile.TarError) as exc:
                # A damaged shard loses samples; exactly-once cannot hold, so stop here, clearly.
                raise DataError(
                    f"shard of {self.split} is damaged at member {name!r}: {exc}; re-seed the shards"
                ) from None


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
        if hasattr(self.source, "set_epoch"):
            self.source.set_epoch(epoch)

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
            collate_fn=collate_samples,
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
    shard_keys: list[str] | None = None,
) -> Loader:
    """The loader ``kind`` (s3iter, map, manual, shards) over one split of the dataset.

    ``shard_keys`` (the split's shards, from the trainer's listing) is needed for ``shards``.
    """
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
        source = ManualPrefixDataset(settings, split, shuffle=shuffle, seed=seed)
    elif kind == "shards":
        source = ShardSamples(settings, split, shard_keys or [], shuffle=shuffle, seed=seed)
    else:
        raise ValueError(f"unknown loader {kind!r}")
    dataset = ShuffleDecode(source, shuffle_buffer if shuffle else 0, seed)
    return Loader(dataset, batch_size, workers, shuffle_indices=False, seed=seed)
