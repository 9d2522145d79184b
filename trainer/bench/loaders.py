"""Loader throughput with no model: every loader streams the same split through a real DataLoader.

The local-disk loader decodes the same PNGs from files: what a loader could do with no network.
Each pass also reports its mean label entropy per batch and peak memory (:mod:`trainer.measure`)
and the GET requests the server itself counted.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labcore.clients import store_errors
from labcore.errors import DataError
from labcore.layout import split_prefix
from labcore.settings import Settings
from labcore.shards import shards_prefix
from trainer.measure import measure_pass

ALL_LOADERS = ("manual", "s3iter", "s3prefix", "map", "shards", "local")
# A loader as given runs one GET at a time per worker; "<loader>@K" keeps K in flight (READ_AHEAD).
READ_AHEAD_LOADERS = ("manual", "s3iter")


def default_loaders(read_ahead: int) -> list[str]:
    """Every loader, and the read-ahead ones also at ``read_ahead`` (the trainer's READ_AHEAD)."""
    loaders = []
    for loader in ALL_LOADERS:
        loaders.append(loader)
        if loader in READ_AHEAD_LOADERS and read_ahead > 1:
            loaders.append(f"{loader}@{read_ahead}")
    return loaders


def parse_loader(spec: str) -> tuple[str, int]:
    """``"s3iter@8"`` -> ``("s3iter", 8)``; ``"map"`` -> ``("map", 1)``; ValueError if unknown."""
    kind, _, ahead = spec.partition("@")
    if kind not in ALL_LOADERS or (ahead and (kind not in READ_AHEAD_LOADERS or not ahead.isdigit())):
        raise ValueError(spec)
    return kind, max(1, int(ahead or 1))


def unknown_loaders(specs: list[str]) -> list[str]:
    """The specs among ``specs`` that :func:`parse_loader` refuses."""
    unknown = []
    for spec in specs:
        try:
            parse_loader(spec)
        except ValueError:
            unknown.append(spec)
    return unknown


# Loaders that GET one object per sample, with or without read-ahead.
PER_OBJECT = ("manual", "s3iter", "s3prefix", "map")


@dataclass
class Result:
    """One loader at one worker count, over the repeats."""

    loader: str
    workers: int
    samples: int
    seconds: list[float]
    megabytes: float
    get_requests: int | None  # as the server counted them; None where it keeps no count
    # Mean Shannon entropy of the labels in a batch (bits; 3.32 = ten even classes), and the peak
    # resident memory of the process and its DataLoader workers during the pass (MB).
    label_entropy_bits: float = 0.0
    peak_rss_mb: float = 0.0
    # Shares of the machine's CPU during the last pass: main, workers, server and others, idle.
    cpu: dict = field(default_factory=dict)
    # Of the last pass: the distinct keys delivered, the bytes of their objects as read, and the
    # samples that did not decode.
    distinct: int = 0
    object_bytes: int = 0
    unusable: int = 0

    @property
    def rates(self) -> list[float]:
        return [self.samples / s for s in self.seconds]

    def row(self) -> dict:
        rates = self.rates
        median_seconds = statistics.median(self.seconds)
        return {
            **asdict(self),
            "samples_per_s_min": min(rates),
            "samples_per_s_median": statistics.median(rates),
            # The objects' own bytes (shards' tar headers are not payload).
            "mb_per_s_median": (self.object_bytes / 1e6 if self.object_bytes else self.megabytes)
            / median_seconds,
        }


class LocalObjects:
    """The same decode over the objects copied to local disk, as a map-style dataset (``index``: ``i``)."""

    def __init__(self, root: Path, keys: list[str]):
        self.root = root
        self.keys = keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int):
        from trainer.transforms import decode_sample

        key = self.keys[i]
        return decode_sample(key, (self.root / key).read_bytes(), index=i)


def _download(client, settings: Settings, keys: list[str], root: Path) -> None:
    """Copy ``keys`` under ``root``, several GETs at once: one at a time, 32,768 small objects took
    minutes of the sweep's time before its first pass."""

    def fetch(key: str) -> None:
        target = root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        client.fget_object(settings.bucket, key, str(target))

    with ThreadPoolExecutor(max_workers=settings.seed_workers, thread_name_prefix="copy") as pool:
        for _ in pool.map(fetch, keys):
            pass


def time_loader(make_loader, max_samples: int | None = None) -> tuple[int, float]:
    """``(samples, seconds)`` for one pass over ``make_loader()`` (stops after ``max_samples``)."""
    done = measure_pass(make_loader, max_samples)
    return done.samples, done.seconds


def loader_factory(
    settings: Settings,
    kind: str,
    split: str,
    *,
    workers: int,
    batch_size: int = 256,
    shard_keys: list[str] | None = None,
    read_ahead: int = 1,
    keys: list[str] | None = None,
):
    """A function that gives a fresh DataLoader of ``kind`` as it trains, minus the shuffle buffer.

    ``keys`` (the bench's listing) spares ``s3iter`` a listing of its own.

    Each loader streams in its training order (s3iter a permutation, s3prefix the listing, map
    shuffled indices, manual and shards shuffled keys) with no buffer, so every loader pays the same
    decode and nothing else.
    """
    from trainer.datasets import build_loader

    built = build_loader(
        kind,
        settings,
        split,
        batch_size=batch_size,
        workers=workers,
        shuffle=True,
        shuffle_buffer=0,
        seed=0,
        shard_keys=shard_keys,
        read_ahead=read_ahead,
        keys=keys,
    )
    return lambda: built.epoch(1)


def _local_loader(root: Path, keys: list[str], batch_size: int, workers: int):
    from torch.utils.data import DataLoader

    from trainer.transforms import collate_samples

    dataset = LocalObjects(root, keys)
    return lambda: DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_samples)


@dataclass
class BenchSplit:
    """What the bench reads: the split's objects and its shards with their sizes, listed once."""

    name: str
    sizes: dict[str, int]  # key -> bytes of every object under the split's prefix
    shard_sizes: dict[str, int] = field(default_factory=dict)
    shard_keys: list[str] | None = None  # in the manifest's order; None when not asked for

    @property
    def keys(self) -> list[str]:
        return sorted(self.sizes)


def list_bench_split(client, settings: Settings, split: str, *, shards: bool) -> BenchSplit:
    """The split's objects and their sizes (and, with ``shards``, its shards); ``DataError`` when it has none."""
    from trainer.planning import plan_split

    prefix = split_prefix(settings.data_prefix, split)
    with store_errors(settings, "s3"):
        sizes = {o.object_name: o.size for o in client.list_objects(settings.bucket, prefix, recursive=True)}
        found = BenchSplit(split, sizes)
        if shards:
            found.shard_keys = plan_split(client, settings, split, shards=True).shard_keys
            listed = client.list_objects(
                settings.bucket, split_prefix(shards_prefix(settings.data_prefix), split), recursive=True
            )
            found.shard_sizes = {o.object_name: o.size for o in listed}
    if not sizes:
        raise DataError(f"no objects under s3://{settings.bucket}/{prefix}: seed first (make up)")
    return found


@dataclass
class Plan:
    """How each loader is run: worker counts, repeats, batch size, and a cap on samples per pass."""

    worker_counts: list[int]
    repeats: int = 3
    batch_size: int = 256
    max_samples: int | None = None


def run_loaders(
    settings: Settings,
    client,
    data: BenchSplit,
    loaders: list[str],
    plan: Plan,
    gets: Callable[[], int] | None,
    log: Callable[[str], None] = print,
) -> list[Result]:
    """Every loader at every worker count, ``plan.repeats`` times; ``gets()`` reads the server's GET count.

    ``gets`` is None on a store that keeps no request counts: the GET column is then empty.
    """
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
        root = Path(tmp)
        if "local" in loaders:
            log(f"bench: copying {len(data.sizes)} objects to local disk for the baseline")
            with store_errors(settings, "s3"):
                _download(client, settings, data.keys, root)
        for loader in loaders:
            for workers in plan.worker_counts:
                result = _run_one(settings, data, loader, workers, plan, root, gets)
                results.append(result)
                row = result.row()
                log(
                    f"bench: {loader:9s} {workers} workers: {row['samples_per_s_median']:8.0f} samples/s median "
                    f"({row['samples_per_s_min']:.0f} min), {row['mb_per_s_median']:6.1f} MB/s, "
                    f"{'?' if result.get_requests is None else result.get_requests} GETs"
                )
    return results


def _run_one(
    settings: Settings, data: BenchSplit, loader: str, workers: int, plan: Plan, root: Path, gets
) -> Result:
    seconds: list[float] = []
    requests: int | None = None
    samples = 0
    peak = entropy = 0.0
    cpu: dict = {}
    distinct = object_bytes = unusable = 0
    for _ in range(plan.repeats):
        if loader == "local":
            make = _local_loader(root, data.keys, plan.batch_size, workers)
        else:
            kind, ahead = parse_loader(loader)
            make = loader_factory(
                settings,
                kind,
                data.name,
                workers=workers,
                batch_size=plan.batch_size,
                shard_keys=data.shard_keys,
                read_ahead=ahead,
                keys=data.keys,
            )
        before = gets() if gets else 0
        done = measure_pass(make, plan.max_samples)
        requests = gets() - before if gets else None
        seconds.append(done.seconds)
        samples, entropy = done.samples, done.entropy_bits
        peak = max(peak, done.peak_rss_mb)
        cpu = {k: round(v, 3) for k, v in done.cpu.shares().items()}
        distinct, object_bytes, unusable = done.distinct, done.object_bytes, done.unusable
    total_bytes = sum(data.shard_sizes.values()) if loader == "shards" else sum(data.sizes.values())
    fraction = min(1.0, samples / max(len(data.sizes), 1))
    return Result(
        loader,
        workers,
        samples,
        seconds,
        total_bytes * fraction / 1e6,
        requests,
        round(entropy, 3),
        round(peak, 1),
        cpu,
        distinct,
        object_bytes,
        unusable,
    )
