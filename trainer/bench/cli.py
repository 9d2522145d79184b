"""The bench's command line: parse, then wire the loader passes, the ceiling and the training runs."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from functools import partial
from pathlib import Path

from labcore.cli import run
from labcore.clients import minio_client, store_errors
from labcore.metrics import get_counter
from labcore.settings import LOADERS, MINIO_VARS, S3_VARS, load_settings
from trainer.bench import verdicts
from trainer.bench.ceiling import measure_ceiling
from trainer.bench.loaders import (
    ALL_LOADERS,
    Plan,
    default_loaders,
    list_bench_split,
    run_loaders,
    unknown_loaders,
)
from trainer.bench.training import train_runs

PROG = "python -m trainer.bench"


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's command line."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Measure every loader against the lab's object store in one run: throughput with no "
        "model, label mixing and peak memory; the server's small-GET ceiling (wrk); one epoch of the real "
        "trainer per loader. Writes tables, JSON and a PNG chart to results/ and to "
        "s3://$BUCKET/runs/bench-<time>/. Needs the bucket seeded with --format both.",
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
        "--max-samples", type=int, metavar="N", help="stop each loader pass after N samples (default: all)"
    )
    parser.add_argument(
        "--split", choices=("train", "test"), default="train", help="split to read (default train)"
    )
    parser.add_argument(
        "--train",
        default=",".join(LOADERS),
        metavar="LIST",
        help="loaders to train one epoch with at the trainer's settings, or 'none' (default: all five)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=3,
        metavar="N",
        help="seeds for the accuracy and mixing comparison of the default loader with map (default 3)",
    )
    add_output_arguments(parser, ceiling_seconds=5.0, ceiling_for="for the ceiling")
    return parser


def add_output_arguments(
    parser: argparse.ArgumentParser, *, ceiling_seconds: float, ceiling_for: str
) -> None:
    """The flags both benches take: the ceiling probe's length, the output folder, the env file."""
    parser.add_argument(
        "--ceiling-seconds",
        type=float,
        default=ceiling_seconds,
        metavar="S",
        help=f"seconds of wrk per connection count (1, 4, 16, 64) {ceiling_for}; 0 skips it "
        f"(default {ceiling_seconds:g})",
    )
    parser.add_argument("--out", default="results", help="local output folder (default results/)")
    parser.add_argument("--env-file", metavar="FILE", help="read settings from FILE instead of ./.env")


def _fail(message: str) -> SystemExit:
    return SystemExit(f"{PROG}: error: {message}")


def _parse(argv: list[str]):
    args = build_parser().parse_args(argv)
    settings = load_settings(args.env_file, require=MINIO_VARS + S3_VARS)
    given = args.loaders.split(",") if args.loaders else default_loaders(settings.read_ahead)
    loaders = [x.strip() for x in given if x.strip()]
    unknown = unknown_loaders(loaders)
    if unknown:
        raise _fail(f"unknown loaders {unknown} (e.g. s3iter, s3iter@8)")
    try:
        worker_counts = [int(x) for x in args.workers.split(",")]
    except ValueError:
        raise _fail("--workers takes numbers, e.g. 0,1,2,4") from None
    if args.repeats < 1 or args.seeds < 1:
        raise _fail("--repeats and --seeds must be at least 1")
    train = [] if args.train.strip() == "none" else [x.strip() for x in args.train.split(",") if x.strip()]
    if set(train) - set(LOADERS):
        raise _fail(f"--train takes {', '.join(LOADERS)} or none, not {args.train!r}")
    plan = Plan(worker_counts, args.repeats, args.batch_size, args.max_samples)
    return args, settings, loaders, plan, train


def _main(argv: list[str]) -> int:
    args, settings, loaders, plan, train = _parse(argv)
    from trainer.connector import export_credentials

    # Four workers on two cores is part of the measurement, not a mistake.
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    log = partial(print, flush=True)
    client = minio_client(settings, convention="s3")
    data = list_bench_split(client, settings, args.split, shards="shards" in loaders)
    export_credentials(settings)
    gets = get_counter(settings)  # None where the store keeps no request counts
    results = run_loaders(settings, client, data, loaders, plan, gets, log)
    ceiling = None
    if args.ceiling_seconds > 0:
        with store_errors(settings, "s3"):
            ceiling = measure_ceiling(
                client, settings.bucket, data.keys, seconds=args.ceiling_seconds, log=log
            )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    runs = train_runs(settings, client, train, args.seeds, stamp, env_file=args.env_file, log=log)

    rows = [r.row() for r in results]
    checks = verdicts.loader_checks(rows, ceiling) + verdicts.training_checks(runs, settings.loader)
    verdicts.print_tables(rows, ceiling, runs, checks)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / f"bench-{stamp}.json", out / f"bench-{stamp}.png"
    verdicts.write_json(
        json_path,
        {
            "stamp": stamp,
            "endpoint": settings.aws_endpoint_url,
            "split": args.split,
            "objects": len(data.sizes),
            "argv": argv,
            "plan": vars(plan),
            "rows": rows,
            "ceiling": ceiling.as_dict() if ceiling else None,
            "training": [r.row() for r in runs],
            "targets": [vars(c) for c in checks],
        },
    )
    verdicts.chart(rows, ceiling, png_path)
    with store_errors(settings, "s3"):
        for path, kind in ((json_path, "application/json"), (png_path, "image/png")):
            client.fput_object(
                settings.bucket, f"runs/bench-{stamp}/{path.name}", str(path), content_type=kind
            )
    log(f"bench: wrote {json_path} and {png_path}; copies in s3://{settings.bucket}/runs/bench-{stamp}/")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    run(PROG, lambda: _main(argv if argv is not None else sys.argv[1:]))
