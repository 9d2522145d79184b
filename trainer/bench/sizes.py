"""The bench at the object sizes of real datasets: every loader, the server's ceiling and local disk
per object size, on synthetic datasets (:mod:`labcore.synthetic`) that the sweep seeds itself.

A 28x28 PNG (about 300 bytes) is the most request-bound object there is; ImageNet's JPEGs average
about 110 KB. Each point of the sweep reads one synthetic dataset of one size, raw (``.bin``
objects are not decoded), through every loader, and checks that the pass delivered every key once
and exactly ``count x size`` bytes: a throughput figure from a pass that lost or repeated objects
would mean nothing. The counts are scaled so that every point reads a similar number of bytes.

One more point, when asked for, reads ImageNet-like JPEGs (:mod:`labcore.imagenet`) and decodes
them as ImageNet training does: the rate with decoding, where the CPU went, and what decoding alone
costs one core. Its bytes are checked against the sizes the profile drew for its objects.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from labcore import imagenet
from labcore.clients import opened, store_errors
from labcore.settings import Settings
from labcore.shards import shards_prefix
from labcore.synthetic import MAX_LABELS, SyntheticSpec, format_size
from seeder.upload import seed, seed_shards
from trainer.bench.ceiling import measure_ceiling
from trainer.bench.loaders import PER_OBJECT, Plan, list_bench_split, parse_loader, run_loaders
from trainer.transforms import CROP, decode_sample

DEFAULT_SIZES = ("1KB", "16KB", "128KB", "1MB")
DEFAULT_LOADERS = ("s3iter", "s3iter@8", "manual@8", "map", "shards", "local")
# Where the sweep's datasets live, one prefix per size: its own, so it may prune them.
ROOT = "bench-sizes"
# The connector's own knobs, each against its defaults (the sequential reader, 8 MB parts), on the
# loaders that read through the connector: its range-based reader, and smaller and larger parts.
KNOBS = {
    "range reader": {"connector_reader": "range"},
    "5 MB parts": {"connector_part_size": 5 << 20},
    "16 MB parts": {"connector_part_size": 16 << 20},
}
KNOB_LOADERS = ("s3iter", "map", "shards")
# A batch holds at most this many bytes, so that 1 MB objects do not make 256 MB batches (times
# the workers' prefetch) on a laptop.
BATCH_BYTES = 16 << 20
# A decoded ImageNet-like sample: 3x224x224 bytes.
DECODED_BYTES = 3 * CROP[0] * CROP[1]
# Objects whose decode alone is timed, in this process on one core.
DECODE_SAMPLE = 128


@dataclass(frozen=True)
class SweepPlan:
    """What the sweep reads: sizes, bytes per point (with a floor of objects), loaders and how."""

    sizes: tuple[int, ...]
    bytes_per_point: int = 512 << 20
    min_objects: int = 256
    # Small objects reach their bytes only at hundreds of thousands of objects, minutes per pass
    # here: their count stops at this many.
    max_objects: int = 32768
    loaders: tuple[str, ...] = DEFAULT_LOADERS
    workers: int = 4
    repeats: int = 1
    batch_size: int = 256
    ceiling_seconds: float = 3.0
    ceiling_connections: tuple[int, ...] = (1, 4, 16, 64)
    # The size at which the connector's knobs are tried too (KNOBS); None: not tried.
    knobs_at: int | None = None
    # ImageNet-like JPEGs, decoded, after the sizes: this many objects; 0: no such point.
    imagenet: int = 0

    def count(self, size: int) -> int:
        """Objects at ``size``: ``bytes_per_point`` of them, within ``min_objects``-``max_objects``."""
        return max(self.min_objects, min(self.max_objects, self.bytes_per_point // size))

    def batch(self, size: int) -> int:
        """Samples per batch at ``size``: ``batch_size``, fewer where a batch would pass BATCH_BYTES."""
        return max(1, min(self.batch_size, BATCH_BYTES // size))


@dataclass
class Point:
    """One object size: its dataset, each loader's pass, the server's ceiling and the checks.

    The ImageNet-like point (``profile`` set) has objects of many sizes: ``size`` is their mean,
    and ``decode_ms`` what decoding one took on one core of this process.
    """

    size: int
    count: int
    prefix: str
    rows: list[dict] = field(default_factory=list)
    ceiling_gets_per_s: float | None = None
    # The same passes with one of the connector's knobs changed: the knob's name in each row.
    knobs: list[dict] = field(default_factory=list)
    # "loader: what went wrong" for each pass that did not deliver every key once, count x size bytes.
    wrong: list[str] = field(default_factory=list)
    nbytes: int = 0  # every object's bytes together: what each pass must read
    profile: str = ""
    decode_ms: float | None = None

    @property
    def label(self) -> str:
        return (
            f"ImageNet-like JPEG (mean {self.size / 1024:.0f} KB)" if self.profile else format_size(self.size)
        )

    def row(self, loader: str) -> dict | None:
        """``loader``'s pass at this size (with the connector's defaults), ``None`` if it did not run."""
        return next((r for r in self.rows if r["loader"] == loader), None)

    def mb_per_s(self, loader: str) -> float | None:
        row = self.row(loader)
        return None if row is None else row["mb_per_s_median"]

    @property
    def ceiling_mb_per_s(self) -> float | None:
        return None if not self.ceiling_gets_per_s else self.ceiling_gets_per_s * self.size / 1e6

    def best_per_object(self) -> tuple[str, float] | None:
        """The per-object loader with the most MB/s at this size, and its MB/s."""
        rates = [
            (r["loader"], r["mb_per_s_median"])
            for r in self.rows
            if parse_loader(r["loader"])[0] in PER_OBJECT
        ]
        return max(rates, key=lambda pair: pair[1], default=None)

    def as_dict(self) -> dict:
        return {
            **dataclasses.asdict(self),
            "label": self.label,
            "ceiling_mb_per_s": self.ceiling_mb_per_s,
            "best_per_object": self.best_per_object(),
        }


def seed_point(client, settings: Settings, spec: SyntheticSpec, *, shards: bool, log: Callable) -> str:
    """Seed ``spec``'s training split (and its shards) under the sweep's prefix for it.

    Idempotent like any seed: a second sweep uploads nothing. The prefix is the sweep's own, so
    objects of an earlier sweep with another count are pruned, never read.
    """
    name = imagenet.PROFILE if spec.size is None else format_size(spec.size).replace(" ", "").lower()
    prefix = f"{ROOT}/{name}"
    splits = [spec.split("train")]
    common = {"workers": settings.seed_workers, "prune": True, "progress": False}
    with store_errors(settings):
        report = seed(client, settings.bucket, prefix, splits, **common)
        log(f"bench sizes: {name}: {report.line()}")
        if shards:
            sharded = seed_shards(
                client,
                settings.bucket,
                shards_prefix(prefix),
                splits,
                shard_bytes=settings.shard_bytes,
                **common,
            )
            log(f"bench sizes: {name}: {sharded.line()}")
    return prefix


def spec_bytes(spec: SyntheticSpec) -> int:
    """The bytes of ``spec``'s training split as the spec makes them (not as the bucket lists
    them): what every pass must read, so a wrong object in the bucket fails the check."""
    if spec.size is not None:
        return spec.count * spec.size
    split = spec.split("train")
    return sum(split.size(i) for i in range(len(split)))


def check_pass(row: dict, count: int, nbytes: int) -> str:
    """Why a pass is not every key once, each decoded, with ``nbytes`` bytes in all; empty when it is."""
    problems = []
    if row["samples"] != count or row["distinct"] != count:
        problems.append(f"{row['samples']} samples of {row['distinct']} distinct keys, not {count}")
    if row["object_bytes"] != nbytes:
        problems.append(f"{row['object_bytes']} bytes, not {nbytes}")
    if row.get("unusable"):
        problems.append(f"{row['unusable']} objects did not decode")
    return "; ".join(problems)


def _checked(point: Point, row: dict) -> dict:
    """``row``, with what is wrong in it noted on ``point``."""
    wrong = check_pass(row, point.count, point.nbytes)
    if wrong:
        point.wrong.append(f"{row['loader']}{' with ' + row['knob'] if 'knob' in row else ''}: {wrong}")
    return row


def decode_ms(client, settings: Settings, keys: list[str], log: Callable) -> float:
    """Milliseconds to decode one object of ``keys`` (the first :data:`DECODE_SAMPLE`) on one core,
    in this process, their bytes fetched first: what decoding alone costs, without any GET."""
    bodies = []
    with store_errors(settings, "s3"):
        for key in keys[:DECODE_SAMPLE]:
            with opened(client, settings.bucket, key) as response:
                bodies.append((key, response.read()))
    started = time.perf_counter()
    for key, body in bodies:
        decode_sample(key, body)
    ms = (time.perf_counter() - started) * 1000 / max(1, len(bodies))
    log(f"bench sizes: decoding alone: {ms:.1f} ms per object on one core ({len(bodies)} objects)")
    return ms


def run_point(client, settings: Settings, plan: SweepPlan, spec: SyntheticSpec, gets, log: Callable) -> Point:
    """Seed one dataset, run every loader over it, probe the server's ceiling at its size, check."""
    shards = "shards" in plan.loaders
    prefix = seed_point(client, settings, spec, shards=shards, log=log)
    at_size = dataclasses.replace(settings, data_prefix=prefix)
    data = list_bench_split(client, at_size, "train", shards=shards)
    nbytes = spec_bytes(spec)
    if spec.size is None:
        point = Point(round(nbytes / spec.count), spec.count, prefix, nbytes=nbytes, profile=imagenet.PROFILE)
        point.decode_ms = decode_ms(client, at_size, data.keys, log)
        batch = plan.batch(DECODED_BYTES)
    else:
        point, batch = Point(spec.size, spec.count, prefix, nbytes=nbytes), plan.batch(spec.size)
    passes = Plan([plan.workers], plan.repeats, batch, max_samples=None)
    for result in run_loaders(at_size, client, data, list(plan.loaders), passes, gets, log):
        point.rows.append(_checked(point, result.row()))
    if spec.size is not None and spec.size == plan.knobs_at:
        loaders = [loader for loader in KNOB_LOADERS if loader in plan.loaders]
        for knob, changes in KNOBS.items():
            log(f"bench sizes: {point.label}: {knob}")
            turned = dataclasses.replace(at_size, **changes)
            for result in run_loaders(turned, client, data, loaders, passes, gets, log):
                point.knobs.append(_checked(point, {**result.row(), "knob": knob}))
    if plan.ceiling_seconds > 0:
        with store_errors(settings, "s3"):
            ceiling = measure_ceiling(
                client,
                settings.bucket,
                data.keys,
                seconds=plan.ceiling_seconds,
                connections=plan.ceiling_connections,
                log=log,
            )
        point.ceiling_gets_per_s = ceiling.best or None
    return point


def sweep(client, settings: Settings, plan: SweepPlan, gets, log: Callable = print) -> list[Point]:
    """Every size of ``plan``, smallest first, then the ImageNet-like point if asked for."""
    specs = [SyntheticSpec(plan.count(size), size) for size in sorted(plan.sizes)]
    if plan.imagenet:
        specs.append(SyntheticSpec(plan.imagenet, None, labels=MAX_LABELS))
    points = []
    for spec in specs:
        log(f"bench sizes: {spec.objects}: {spec.count} objects, loaders {', '.join(plan.loaders)}")
        points.append(run_point(client, settings, plan, spec, gets, log))
    return points
