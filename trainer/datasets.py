"""The ways the lab loads samples from MinIO, behind one function.

- ``s3iter``: the connector's streaming ``S3IterableDataset`` over the listed keys in a seeded
  permutation per epoch (``from_objects(..., enable_sharding=True)``): streaming, exactly once, and
  as well mixed as random access. Objects are split over ranks and DataLoader workers by position.
- ``s3prefix``: ``S3IterableDataset.from_prefix`` in listing order, mixed only by the shuffle buffer
  (what ``s3iter`` was): the connector's plainest form, kept to show what a buffer cannot do.
- ``map``: ``S3MapDataset.from_prefix``, random access, so the DataLoader can shuffle.
- ``manual``: a hand-written IterableDataset on the MinIO SDK, sharded with ``worker_info`` the
  same way, the seed post's loader done right.
- ``shards``: ``S3IterableDataset`` over the tar shards the seeder writes with ``--format shards``;
  each tar is decoded as a stream straight from the connector's reader, one GET per shard.

S3 lists keys in lexicographic order, and our keys start with the label, so an unshuffled stream
arrives one class after another. ``s3iter`` and ``manual`` stream a permutation of the keys the
trainer listed; ``s3prefix`` and ``shards`` pass through a seeded shuffle buffer
(``--shuffle-buffer``) before decoding; the map loader shuffles indices instead.

Every loader is a chain of stages (:mod:`trainer.stages`) that ends in one place where bytes
become a :class:`~trainer.sample.Sample` (:func:`~trainer.transforms.decode_sample`), with the
label planning parsed from each key when the trainer passes its plan's ``labels``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from labcore.clients import minio_client, opened, store_errors
from labcore.layout import split_prefix
from labcore.settings import Settings
from labcore.shards import iter_verified, shard_of
from trainer.connector import connector_args
from trainer.distributed import position
from trainer.sample import Sample
from trainer.stages import LeftOut, SameEveryEpoch, Stage
from trainer.trained_set import Listing
from trainer.transforms import DecodePng, ReadObject, collate_samples, decode_sample
from trainer.transient import ResumingStream, read_object

# Bumped when a loader's sample order for the same settings changes: a checkpoint written under
# another order cannot be resumed (its delivered-but-untrained batches would differ).
ORDER_VERSION = 2


def s3_uri(settings: Settings, split: str) -> str:
    """``s3://<bucket>/<prefix>/<split>/``: a split of the per-object layout."""
    return f"s3://{settings.bucket}/{split_prefix(settings.data_prefix, split)}"


def epoch_order(items: list[str], seed: int, epoch: int) -> list[str]:
    """``items`` in this epoch's order: the same for every worker and rank, another each epoch."""
    order = sorted(items)
    random.Random(f"order:{seed}:{epoch}").shuffle(order)
    return order


def shard(items: Iterator, rank: int, world: int) -> Iterator:
    """The items of this (rank, worker) shard: position modulo ranks, then modulo workers.

    The same rule as ``S3IterableDataset``'s, so every loader splits work identically: each item
    goes to exactly one worker of one rank, whatever the counts.
    """
    here = position()
    worker = max(here.worker, 0)
    for index, item in enumerate(items):
        if index % world == rank and (index // world) % here.workers == worker:
            yield item


class ManualPrefixDataset(Stage):
    """Every object under a prefix as ``(key, bytes)``, via the MinIO SDK, sharded by worker.

    The client is made inside ``__iter__``: one per worker process, since an SDK client (its
    connection pool) must not be shared across a fork. With ``shuffle`` the key order is
    reshuffled every epoch from the seed, identically in every worker, before sharding.
    """

    def __init__(
        self, settings: Settings, split: str, *, shuffle: bool = False, seed: int = 0, read_ahead: int = 1
    ):
        super().__init__()
        self.settings = settings
        self.read_ahead = read_ahead
        self.prefix = split_prefix(settings.data_prefix, split)
        # Like the connector: the rank is read when the dataset is built (after joining the world).
        here = position()
        self.rank, self.world = here.rank, here.world
        self.shuffle = shuffle
        self.seed = seed
        self.left_out: LeftOut[str] = LeftOut()

    can_leave_out = True

    def leave_out(self, left_out: LeftOut[str]) -> None:
        self.left_out = left_out

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        from trainer.readahead import read_ahead

        client = minio_client(self.settings, convention="s3", pool_size=max(2, self.read_ahead))
        bucket = self.settings.bucket

        def fetch(key: str) -> bytes:
            with opened(client, bucket, key) as response:
                return response.read()

        # The SDK's failures become the lab's one-line errors here, in the worker that meets them.
        with store_errors(self.settings, "s3"):
            keys = [o.object_name for o in client.list_objects(bucket, prefix=self.prefix, recursive=True)]
            if self.shuffle:
                keys = epoch_order(keys, self.seed, self.epoch)
            keys = self.left_out.apply(keys, self.epoch)
            # read_ahead GETs in flight (trainer/readahead.py); 1: one at a time, the seed's design.
            yield from read_ahead(shard(iter(keys), self.rank, self.world), fetch, self.read_ahead)


class OpenShard:
    """Transform for the connector: ``S3Reader`` of a tar shard -> ``(sample key, bytes)``, lazily.

    The reader is consumed front to back by ``tarfile`` in stream mode while the members are
    iterated: no seek, no temporary file, one member in hand at a time. A member's key is the
    shard's key and its name (:func:`labcore.shards.member_key`). Each shard is checked against
    its SHA-256 from the manifest as it streams. A GET a node drops mid-shard is sent again and
    resumed at the byte where it stopped (:class:`trainer.transient.ResumingStream`).
    """

    def __init__(self, digests: dict[str, str | None] | None = None):
        self.digests = digests or {}

    def __call__(self, reader) -> Iterator[tuple[str, bytes]]:
        return iter_verified(ResumingStream(reader), reader.key, self.digests.get(reader.key))


class ShardSamples(Stage):
    """``(key, bytes)`` for every sample in the shards of one split.

    Shards are split over ranks and workers by the connector (``enable_sharding=True``). With
    fewer shards than workers the extra workers get none and yield nothing: every sample still
    arrives exactly once, only parallelism is lost, so keep shards >= workers x ranks. The shards
    are the manifest's (``shard_keys``), never the prefix's listing, which may still hold an older
    generation's (``labcore.shards.shard_key``); with ``shuffle`` their order is reshuffled every
    epoch from the seed, without it the manifest's order is kept.
    """

    def __init__(
        self,
        settings: Settings,
        split: str,
        shard_keys: list[str],
        *,
        shuffle: bool,
        seed: int,
        digests: dict[str, str | None] | None = None,
        samples: Mapping[str, int] | None = None,
    ):
        # Built now, in the main process, because the connector reads the rank when a dataset is
        # made; in a DataLoader worker it would see no process group and every rank read everything.
        transform = OpenShard(digests)
        super().__init__(
            PermutedObjects(settings, shard_keys, seed=seed, transform=transform, shuffle=shuffle)
        )
        self.samples = dict(samples or {})  # shard key -> members, the manifest's count
        self.left_out: LeftOut[str] = LeftOut()

    can_leave_out = True

    def leave_out(self, left_out: LeftOut[str]) -> None:
        """Deal the epoch without these shard samples: a shard all of whose members are among them
        is not dealt at all; the others are, and skip those members as they stream."""
        done = Counter(shard_of(key) for key in left_out.items)
        whole = frozenset(shard for shard, n in done.items() if n == self.samples.get(shard))
        self.source.leave_out(LeftOut(left_out.epoch, whole))
        self.left_out = left_out

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        skip = self.left_out.during(self.epoch)
        # A damaged shard loses samples; exactly-once cannot hold, so it stops the run, clearly.
        # A skipped member is still read: each shard is checked against its SHA-256 as a whole.
        for members in self.source:
            yield from ((key, data) for key, data in members if key not in skip)


class EpochOrder:
    """The ``s3://`` URIs of ``keys`` in the current epoch's seeded permutation, made anew at every pass.

    The connector iterates its ``object_uris`` at the start of every pass over the dataset, in the
    worker: this object reads the epoch there (``epoch``, the stage's shared value), so workers
    kept across epochs follow the epochs. ``get(key)`` is the key's position in that permutation.
    """

    def __init__(self, bucket: str, keys: list[str], seed: int, epoch, *, shuffle: bool = True):
        self.bucket, self.keys, self.seed, self.epoch, self.shuffle = bucket, keys, seed, epoch, shuffle
        self.left_out: LeftOut[str] = LeftOut()
        # This process's epoch, its order, and (made when first asked) the positions in it.
        self._epoch: int | None = None
        self._order: list[str] = []
        self._positions: dict[str, int] | None = None

    def order(self) -> list[str]:
        epoch = self.epoch.value
        if epoch != self._epoch:
            self._epoch, self._positions = epoch, None
            order = epoch_order(self.keys, self.seed, epoch) if self.shuffle else self.keys
            self._order = self.left_out.apply(order, epoch)
        return self._order

    def __iter__(self) -> Iterator[str]:
        return (f"s3://{self.bucket}/{key}" for key in self.order())

    def get(self, key: str, default: int) -> int:
        order = self.order()
        if self._positions is None:
            self._positions = {k: i for i, k in enumerate(order)}
        return self._positions.get(key, default)


class PermutedObjects(Stage):
    """``transform(reader)`` of each of ``keys`` in a seeded permutation per epoch, via the connector.

    ``S3IterableDataset.from_objects`` over :class:`EpochOrder`, sharded by the connector like
    ``from_prefix``: every rank and worker derives the same permutation and keeps its positions, so
    each object arrives once, and a batch holds samples from all over the split, not one label.
    The transform opens a tar shard or hands the reader on (read-ahead); with none given, each PNG
    is decoded here, with its label from ``labels`` (the plan's) and its position in the epoch's
    permutation as the sample's ``index``.
    """

    def __init__(
        self,
        settings: Settings,
        keys: list[str],
        *,
        seed: int,
        transform: Callable | None = None,
        labels: Mapping[str, int] | None = None,
        shuffle: bool = True,
    ):
        from s3torchconnector import S3IterableDataset

        super().__init__()
        self.seed = seed
        order = EpochOrder(settings.bucket, list(keys), seed, self.shared_epoch, shuffle=shuffle)
        self._epoch_order = order
        # Built now, in the main process: the connector reads the rank when a dataset is made.
        self._dataset = S3IterableDataset.from_objects(
            order,
            transform=transform or DecodePng(labels, order),
            enable_sharding=True,
            **connector_args(settings),
        )

    can_leave_out = True

    def leave_out(self, left_out: LeftOut[str]) -> None:
        self._epoch_order.left_out = left_out

    def __iter__(self):
        return iter(self._dataset)


class ShuffleDecode(Stage):
    """Decode ``(key, bytes)`` items from ``source``, through a seeded shuffle buffer.

    With ``buffer_size`` 0 the order is kept. The seed mixes ``seed``, the epoch and the worker,
    so a run is repeatable and each epoch sees another order. ``labels`` (the plan's) spares a
    parse of each key; a key it does not hold (a shard member) is parsed as it is decoded.
    """

    def __init__(self, source: Stage, buffer_size: int, seed: int, labels: Mapping[str, int] | None = None):
        super().__init__(source)
        self.buffer_size = buffer_size
        self.seed = seed
        self.labels = labels or {}

    def __iter__(self) -> Iterator[Sample]:
        items = iter(self.source)
        if self.buffer_size > 0:
            items = self._shuffled(items)
        for key, data in items:
            yield decode_sample(key, data, label=self.labels.get(key))

    def _shuffled(self, items: Iterator) -> Iterator:
        here = position()
        rng = random.Random(f"{self.seed}:{self.epoch}:{here.worker}")
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


class RankSampler(Sampler[int]):
    """A seeded permutation of a map dataset's indices, dealt over ranks: ``order[rank::world]``.

    Unlike ``DistributedSampler`` it never pads with repeated indices (exactly once matters more
    than equal rank sizes here; the training loop evens out step counts instead).
    """

    def __init__(self, size: int, *, shuffle: bool, seed: int):
        here = position()
        self.size, self.rank, self.world = size, here.rank, here.world
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.left_out: LeftOut[int] = LeftOut()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def leave_out(self, left_out: LeftOut[int]) -> None:
        """Deal ``left_out.epoch`` without these indices."""
        self.left_out = left_out

    def _order(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        return self.left_out.apply(order, self.epoch)

    def __iter__(self) -> Iterator[int]:
        return iter(self._order()[self.rank :: self.world])

    def __len__(self) -> int:
        size = self.size - len(self.left_out.during(self.epoch))
        return len(range(self.rank, size, self.world))


class MapSamples(Dataset):
    """``S3MapDataset`` decoded: item ``i`` is the ``i``-th object of the prefix's listing, as a sample.

    The connector hands the reader on unread; the sample is made here, where ``i`` is known, with
    its label from ``labels`` (the plan's). The epoch reaches the :class:`RankSampler` instead.
    """

    def __init__(self, objects, labels: Mapping[str, int] | None = None, keys: Iterable[str] | None = None):
        self.objects = objects
        self.labels = labels or {}
        # The plan's keys: item i is the i-th of them in S3's (sorted) listing order.
        self.listing = Listing(keys) if keys is not None else None

    def set_epoch(self, epoch: int) -> None:
        """Nothing to do: the sampler deals this epoch's permutation of the indices."""

    def __len__(self) -> int:
        return len(self.objects)

    def __getitem__(self, i: int) -> Sample:
        reader = self.objects[i]
        key = reader.key
        return decode_sample(key, read_object(reader), label=self.labels.get(key), index=i)


@dataclass(frozen=True)
class LoaderOptions:
    """How batches are made: the same for every loader kind."""

    batch_size: int
    workers: int
    shuffle: bool
    shuffle_buffer: int
    seed: int
    read_ahead: int = 1


@dataclass(frozen=True)
class LoaderInputs:
    """What the plan already knows: the split's object keys, their labels, and its shards (key -> SHA-256).

    ``labels`` holds the label of every listed key inside the layout, parsed once by planning;
    without a plan (bench and notebooks) each key is parsed as it is decoded.
    """

    keys: tuple[str, ...] | None = None
    labels: Mapping[str, int] | None = None
    shards: dict = field(default_factory=dict)
    shard_samples: Mapping[str, int] | None = None  # shard key -> members (the plan's)

    def object_keys(self, settings: Settings, split: str) -> list[str]:
        """The split's object keys: the plan's, or listed now (bench and notebooks pass none)."""
        if self.keys is not None:
            return list(self.keys)
        from trainer.planning import plan_split

        return list(plan_split(minio_client(settings, convention="s3"), settings, split, shards=False).keys)


@dataclass
class Loader:
    """A DataLoader factory for one split; ``epoch(n)`` gives that epoch's DataLoader."""

    dataset: Stage | MapSamples
    options: LoaderOptions
    sampler: RankSampler | None = None

    _loader: DataLoader | None = field(default=None, init=False, repr=False)

    @property
    def listing(self) -> Listing | None:
        """The map dataset's listing of the split (its item ``i`` is key ``i``); ``None`` for the
        other loaders and for a map dataset built without the plan's keys."""
        return getattr(self.dataset, "listing", None) if self.sampler is not None else None

    @property
    def elastic(self) -> bool:
        """Whether this loader can deal an epoch without some of its samples (:meth:`leave_out`):
        not ``s3prefix``, which streams the connector's listing, nor evaluation."""
        if self.sampler is not None:
            return self.listing is not None
        return self.dataset.can_leave_out

    def leave_out(self, epoch: int, keys: frozenset[str]) -> None:
        """Deal epoch ``epoch`` without ``keys`` (trained before an elastic resume), before the
        first pass; only for a loader that is :attr:`elastic` (``TypeError`` otherwise)."""
        if not self.elastic:
            raise TypeError("this loader cannot deal an epoch without some of its samples")
        if self.sampler is not None:
            self.sampler.leave_out(LeftOut(epoch, self.listing.positions(keys)))
        else:
            self.dataset.leave_out(LeftOut(epoch, keys))

    def epoch(self, epoch: int) -> DataLoader:
        """The DataLoader for epoch ``epoch``: the same one every epoch, its workers kept alive.

        Workers start once, at the first epoch's first batch, not again every epoch; the epoch
        reaches their copies of the stages through shared memory (``trainer.stages``) and the
        sampler in this process. Their base seed comes from a generator of the loader's own seed,
        never from the global RNG, which a checkpoint saves and restores for the model alone.
        """
        self.dataset.set_epoch(epoch)
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        if self._loader is None:
            workers = self.options.workers
            self._loader = DataLoader(
                self.dataset,
                batch_size=self.options.batch_size,
                num_workers=workers,
                sampler=self.sampler,
                # Each worker keeps a couple of batches ready while the model computes.
                prefetch_factor=4 if workers > 0 else None,
                collate_fn=collate_samples,
                persistent_workers=workers > 0,
                generator=torch.Generator().manual_seed(self.options.seed),
            )
        return self._loader


def _s3iter(settings: Settings, split: str, options: LoaderOptions, inputs: LoaderInputs) -> Loader:
    from trainer.readahead import ConnectorReadAhead, keep_reader

    # With read-ahead the connector still deals the objects, but hands each reader on unread, and
    # each worker reads read_ahead of them at once. Evaluation (no shuffle) streams the listing.
    ahead = options.read_ahead > 1
    labels = inputs.labels
    if options.shuffle:
        keys = inputs.object_keys(settings, split)
        # Without read-ahead the permutation decodes, and so knows each sample's position in it.
        transform = keep_reader if ahead else None
        source = PermutedObjects(settings, keys, seed=options.seed, transform=transform, labels=labels)
    else:
        source = _from_prefix(settings, split, keep_reader if ahead else DecodePng(labels))
    if not ahead:
        return Loader(source, options)
    reading = ConnectorReadAhead(source, options.read_ahead)
    return Loader(ShuffleDecode(reading, 0, options.seed, labels), options)


def _s3prefix(settings: Settings, split: str, options: LoaderOptions, inputs: LoaderInputs) -> Loader:
    if not options.shuffle or options.shuffle_buffer == 0:
        # Decoding in the connector's transform: the plain streaming pipeline, in listing order.
        return Loader(_from_prefix(settings, split, DecodePng(inputs.labels)), options)
    return _shuffled(_from_prefix(settings, split, ReadObject()), options, inputs.labels)


def _from_prefix(settings: Settings, split: str, transform: Callable) -> Stage:
    from s3torchconnector import S3IterableDataset

    uri = s3_uri(settings, split)
    dataset = S3IterableDataset.from_prefix(
        uri, transform=transform, enable_sharding=True, **connector_args(settings)
    )
    return SameEveryEpoch(dataset)


def _map(settings: Settings, split: str, options: LoaderOptions, inputs: LoaderInputs) -> Loader:
    from s3torchconnector import S3MapDataset

    from trainer.readahead import keep_reader

    objects = S3MapDataset.from_prefix(
        s3_uri(settings, split), transform=keep_reader, **connector_args(settings)
    )
    dataset = MapSamples(objects, inputs.labels, inputs.keys)
    return Loader(dataset, options, RankSampler(len(dataset), shuffle=options.shuffle, seed=options.seed))


def _manual(settings: Settings, split: str, options: LoaderOptions, inputs: LoaderInputs) -> Loader:
    dataset = ManualPrefixDataset(
        settings, split, shuffle=options.shuffle, seed=options.seed, read_ahead=options.read_ahead
    )
    return _shuffled(dataset, options, inputs.labels)


def _shards(settings: Settings, split: str, options: LoaderOptions, inputs: LoaderInputs) -> Loader:
    shards = inputs.shards
    source = ShardSamples(
        settings,
        split,
        list(shards),
        shuffle=options.shuffle,
        seed=options.seed,
        digests=shards,
        samples=inputs.shard_samples,
    )
    return _shuffled(source, options)


def _shuffled(source: Stage, options: LoaderOptions, labels: Mapping[str, int] | None = None) -> Loader:
    buffer = options.shuffle_buffer if options.shuffle else 0
    return Loader(ShuffleDecode(source, buffer, options.seed, labels), options)


FACTORIES: dict[str, Callable[..., Loader]] = {
    "s3iter": _s3iter,
    "s3prefix": _s3prefix,
    "map": _map,
    "manual": _manual,
    "shards": _shards,
}


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
    shard_digests: dict[str, str] | None = None,
    shard_samples: Mapping[str, int] | None = None,
    keys: Iterable[str] | None = None,
    labels: Mapping[str, int] | None = None,
    read_ahead: int = 1,
) -> Loader:
    """The loader ``kind`` (s3iter, s3prefix, map, manual, shards) over one split of the dataset.

    ``shard_keys`` (the split's shards, from the plan) is needed for ``shards``, and
    ``shard_digests`` (their SHA-256 from the manifest) checks each shard as it streams;
    ``shard_samples`` (their member counts) lets an elastic resume skip whole shards. ``keys``
    (the split's object keys, from the plan) spares ``s3iter`` a listing of its own, and ``labels``
    (their labels, parsed once by planning) spares the per-object loaders a parse of each key.
    ``read_ahead`` keeps that many GETs in flight per worker for ``s3iter`` and ``manual``. Build
    it after joining a torchrun world: every loader splits its work by the rank it sees then.
    """
    if kind not in FACTORIES:
        raise ValueError(f"unknown loader {kind!r}")
    options = LoaderOptions(batch_size, workers, shuffle, shuffle_buffer, seed, read_ahead)
    digests = shard_digests or {}
    shards = {key: digests.get(key) for key in shard_keys or []}
    inputs = LoaderInputs(tuple(keys) if keys is not None else None, labels, shards, shard_samples)
    return FACTORIES[kind](settings, split, options, inputs)
