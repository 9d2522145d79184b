"""``python -m trainer.bench``: loader throughput with no model, every loader against one MinIO.

Each loader streams the training split through a real DataLoader at each worker count, a few
times; the table shows samples/s (min and median), MB/s and the GET requests MinIO itself counted
(its Prometheus counters). The local-disk loader decodes the same PNGs from files: the ceiling.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from labcore.cli import run
from labcore.clients import minio_client, sdk_endpoint, store_errors
from labcore.errors import DataError
from labcore.layout import split_prefix
from labcore.metrics import request_counts
from labcore.settings import MINIO_VARS, S3_VARS, Settings, load_settings
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


# Targets from the issue, as (numerator, denominator, ratio): checked within one run.
# "per-object" is the best of every loader that GETs one object per sample, read-ahead included;
# "manual" stays the seed post's design, one GET at a time. A ratio of None is reported, not a target.
TARGETS = (("shards", "local", 0.9), ("per-object", "manual", 3.0), ("shards", "s3iter", None))
PER_OBJECT = ("manual", "s3iter", "s3prefix", "map")


@dataclass
class Result:
    """One loader at one worker count, over the repeats."""

    loader: str
    workers: int
    samples: int
    seconds: list[float]
    megabytes: float
    get_requests: int
    # Mean Shannon entropy of the labels in a batch (bits; 3.32 = ten even classes), and the peak
    # resident memory of the process and its DataLoader workers during the pass (MB).
    label_entropy_bits: float = 0.0
    peak_rss_mb: float = 0.0

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
            "mb_per_s_median": self.megabytes / median_seconds,
        }


class LocalPngs:
    """The same decode over PNG files on local disk, as a map-style dataset."""

    def __init__(self, root: Path, keys: list[str]):
        self.root = root
        self.keys = keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int):
        from trainer.transforms import decode_sample

        key = self.keys[i]
        return decode_sample(key, (self.root / key).read_bytes())


def _download(client, settings: Settings, keys: list[str], root: Path) -> None:
    for key in keys:
        target = root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        client.fget_object(settings.bucket, key, str(target))


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
):
    """A function that gives a fresh DataLoader of ``kind`` as it trains, minus the shuffle buffer.

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
    )
    return lambda: built.epoch(1)


def _local_loader(root: Path, keys: list[str], batch_size: int, workers: int):
    from torch.utils.data import DataLoader

    return lambda: DataLoader(LocalPngs(root, keys), batch_size=batch_size, num_workers=workers)


def _chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    loaders = list(dict.fromkeys(r["loader"] for r in rows))
    workers = sorted({r["workers"] for r in rows})
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(workers)
    for j, w in enumerate(workers):
        values = [
            next((r["samples_per_s_median"] for r in rows if r["loader"] == lo and r["workers"] == w), 0)
            for lo in loaders
        ]
        ax.bar([i + j * width for i in range(len(loaders))], values, width, label=f"{w} workers")
    ax.set_xticks([i + width * (len(workers) - 1) / 2 for i in range(len(loaders))], loaders)
    ax.set_yscale("log")
    ax.set_ylabel("samples/s (median, log scale)")
    ax.set_title("Loader throughput from MinIO, no model")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer.bench",
        description="Measure loader throughput (no model) against the lab's MinIO; write a table, "
        "JSON and a PNG chart to results/ and to s3://$BUCKET/runs/bench-<time>/. Needs the bucket "
        "seeded with --format both.",
    )
    parser.add_argument(
        "--loaders",
        help=f"comma list of {', '.join(ALL_LOADERS)}; manual@K or s3iter@K keep K GETs in flight per "
        "worker (default: every loader, and manual and s3iter also at READ_AHEAD)",
    )
    parser.add_argument(
        "--workers", default="0,1,2,4", help="comma list of DataLoader worker counts (default 0,1,2,4)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per loader and worker count (default 3)")
    parser.add_argument("--batch-size", type=int, default=256, help="samples per batch (default 256)")
    parser.add_argument(
        "--max-samples",
        type=int,
        metavar="N",
        help="stop each run after N samples (default: the whole split)",
    )
    parser.add_argument(
        "--split", choices=("train", "test"), default="train", help="split to read (default train)"
    )
    parser.add_argument("--out", default="results", help="local output folder (default results/)")
    parser.add_argument("--env-file", metavar="FILE", help="read settings from FILE instead of ./.env")
    return parser


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings(args.env_file, require=MINIO_VARS + S3_VARS)
    given = args.loaders.split(",") if args.loaders else default_loaders(settings.read_ahead)
    loaders = [x.strip() for x in given if x.strip()]
    unknown = []
    for spec in loaders:
        try:
            parse_loader(spec)
        except ValueError:
            unknown.append(spec)
    if unknown:
        raise SystemExit(f"python -m trainer.bench: error: unknown loaders {unknown} (e.g. s3iter, s3iter@8)")
    try:
        worker_counts = [int(x) for x in args.workers.split(",")]
    except ValueError:
        raise SystemExit("python -m trainer.bench: error: --workers takes numbers, e.g. 0,1,2,4") from None
    if args.repeats < 1:
        raise SystemExit("python -m trainer.bench: error: --repeats must be at least 1")

    from trainer.connector import export_credentials
    from trainer.planning import plan_split

    # Four workers on two cores is part of the measurement, not a mistake.
    warnings.filterwarnings("ignore", message="This DataLoader will create")

    client = minio_client(settings, convention="s3")
    admin = sdk_endpoint(settings, "minio")
    objects_prefix = split_prefix(settings.data_prefix, args.split)
    with store_errors(settings, "s3"):
        listing = {
            o.object_name: o.size
            for o in client.list_objects(settings.bucket, objects_prefix, recursive=True)
        }
        shard_plan = plan_split(client, settings, args.split, shards=True) if "shards" in loaders else None
        shard_sizes = {
            o.object_name: o.size
            for o in client.list_objects(
                settings.bucket, split_prefix(shards_prefix(settings.data_prefix), args.split), recursive=True
            )
        }
    if not listing:
        raise DataError(f"no objects under s3://{settings.bucket}/{objects_prefix}: seed first (make up)")
    export_credentials(settings)

    def counts():
        # MinIO counts a GET when its handler returns, a moment after the client has the last
        # byte: read until two readings agree (bounded), or a busy machine loses the last GETs.
        with store_errors(settings, "minio"):
            now = request_counts(admin.url, admin.access_key, admin.secret_key)
            for _ in range(10):
                time.sleep(0.2)
                again = request_counts(admin.url, admin.access_key, admin.secret_key)
                if again == now:
                    break
                now = again
            return now

    keys = sorted(listing)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as tmp:
        root = Path(tmp)
        if "local" in loaders:
            print(f"bench: copying {len(keys)} PNGs to local disk for the baseline", flush=True)
            _download(client, settings, keys, root)
        for loader in loaders:
            for workers in worker_counts:
                seconds: list[float] = []
                gets = samples = 0
                peak = 0.0
                for _ in range(args.repeats):
                    if loader == "local":
                        make = _local_loader(root, keys, args.batch_size, workers)
                    else:
                        kind, ahead = parse_loader(loader)
                        make = loader_factory(
                            settings,
                            kind,
                            args.split,
                            workers=workers,
                            batch_size=args.batch_size,
                            shard_keys=shard_plan.shard_keys if shard_plan else None,
                            read_ahead=ahead,
                        )
                    before = counts()
                    done = measure_pass(make, args.max_samples)
                    gets = counts()["GetObject"] - before["GetObject"]
                    seconds.append(done.seconds)
                    samples = done.samples
                    peak = max(peak, done.peak_rss_mb)
                total_bytes = sum(shard_sizes.values()) if loader == "shards" else sum(listing.values())
                fraction = min(1.0, samples / max(len(listing), 1))
                result = Result(
                    loader,
                    workers,
                    samples,
                    seconds,
                    total_bytes * fraction / 1e6,
                    gets,
                    round(done.entropy_bits, 3),
                    round(peak, 1),
                )
                results.append(result)
                row = result.row()
                print(
                    f"bench: {loader:7s} {workers} workers: {row['samples_per_s_median']:8.0f} samples/s median "
                    f"({row['samples_per_s_min']:.0f} min), {row['mb_per_s_median']:6.1f} MB/s, {gets} GETs",
                    flush=True,
                )

    rows = [r.row() for r in results]
    best = {lo: max(r["samples_per_s_median"] for r in rows if r["loader"] == lo) for lo in loaders}
    per_object = [v for lo, v in best.items() if parse_loader(lo)[0] in PER_OBJECT]
    if per_object:
        best["per-object"] = max(per_object)
    checks = []
    for num, den, ratio in TARGETS:
        if num in best and den in best:
            actual = best[num] / best[den]
            name = f"{num} >= {ratio}x {den}" if ratio else f"{num} / {den} (reported)"
            checks.append(
                {"target": name, "ratio": actual, "met": None if ratio is None else actual >= ratio}
            )
    print_table(rows, checks)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "stamp": stamp,
        "endpoint": settings.aws_endpoint_url,
        "split": args.split,
        "objects": len(listing),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "max_samples": args.max_samples,
        "rows": rows,
        "targets": checks,
    }
    json_path, png_path = out / f"bench-{stamp}.json", out / f"bench-{stamp}.png"
    json_path.write_text(json.dumps(report, indent=2))
    _chart(rows, png_path)
    with store_errors(settings, "s3"):
        for path, kind in ((json_path, "application/json"), (png_path, "image/png")):
            client.fput_object(
                settings.bucket, f"runs/bench-{stamp}/{path.name}", str(path), content_type=kind
            )
    print(
        f"bench: wrote {json_path} and {png_path}; copies in s3://{settings.bucket}/runs/bench-{stamp}/",
        flush=True,
    )
    return 0


def print_table(rows: list[dict], checks: list[dict]) -> None:
    """The results as a Markdown table, then the targets."""
    print(
        "\n| loader | workers | samples/s median | samples/s min | MB/s | GET requests "
        "| label entropy/batch (bits) | peak RSS (MB) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['loader']} | {r['workers']} | {r['samples_per_s_median']:.0f} | {r['samples_per_s_min']:.0f} | "
            f"{r['mb_per_s_median']:.1f} | {r['get_requests']} | {r['label_entropy_bits']:.2f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    for c in checks:
        verdict = "" if c["met"] is None else (", met" if c["met"] else ", MISSED")
        print(f"target {c['target']}: {c['ratio']:.2f}x{verdict}")


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    run("python -m trainer.bench", lambda: _main(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    main()
