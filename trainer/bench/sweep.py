"""``python -m trainer.bench.sweep``: every loader at several object sizes, against the server's ceiling."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from functools import partial
from pathlib import Path

from labcore.cli import run
from labcore.clients import check_access, minio_client, store_errors
from labcore.errors import ConfigError, DataError
from labcore.metrics import get_counter
from labcore.settings import MINIO_VARS, S3_VARS, load_settings
from labcore.synthetic import MAX_SIZE, format_size, parse_size
from trainer.bench import size_report
from trainer.bench.cli import add_output_arguments
from trainer.bench.loaders import unknown_loaders
from trainer.bench.sizes import DEFAULT_LOADERS, DEFAULT_SIZES, ROOT, SweepPlan, sweep
from trainer.bench.verdicts import write_json

PROG = "python -m trainer.bench.sweep"


def build_parser() -> argparse.ArgumentParser:
    """The sweep's command line."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Seed a synthetic dataset per object size (random bytes, .bin, under "
        f"s3://$BUCKET/{ROOT}/<size>/), read each through every loader without decoding, check that "
        "every key arrived once with all its bytes, probe the server's ceiling at that size with wrk, "
        "and report MB/s and objects/s per loader and size: a table, JSON and a chart in results/. "
        f"Then the same over ImageNet-like JPEGs (s3://$BUCKET/{ROOT}/imagenet/), decoded. "
        "Re-runs upload nothing that is already there.",
    )
    parser.add_argument(
        "--sizes",
        default=",".join(DEFAULT_SIZES),
        metavar="LIST",
        help=f"object sizes, e.g. 1KB,16KB,128KB,1MB (1 KB = 1,024 bytes; default {','.join(DEFAULT_SIZES)})",
    )
    parser.add_argument(
        "--bytes-per-point",
        default="512MB",
        metavar="SIZE",
        help="bytes each size reads: its object count is this over the size (default 512MB)",
    )
    parser.add_argument(
        "--min-objects", type=int, default=256, metavar="N", help="objects per size, at least (default 256)"
    )
    parser.add_argument(
        "--max-objects",
        type=int,
        default=32768,
        metavar="N",
        help="objects per size, at most (default 32768)",
    )
    parser.add_argument(
        "--loaders",
        default=",".join(DEFAULT_LOADERS),
        help=f"comma list of loaders, @K for K GETs in flight per worker (default {','.join(DEFAULT_LOADERS)})",
    )
    parser.add_argument(
        "--knobs-at",
        default="1MB",
        metavar="SIZE|none",
        help="the size (one of --sizes) at which s3iter, map and shards also run with the connector's "
        "range-based reader and with 5 MB and 16 MB parts (default 1MB; none: not)",
    )
    parser.add_argument(
        "--imagenet",
        type=int,
        default=4096,
        metavar="N",
        help="then N ImageNet-like JPEGs (median 96 KB), decoded to 224x224 as ImageNet training does: "
        "the rate with decoding and where the CPU went (default 4096; 0: not)",
    )
    parser.add_argument("--workers", type=int, default=4, metavar="N", help="DataLoader workers (default 4)")
    parser.add_argument(
        "--repeats", type=int, default=1, metavar="N", help="passes per loader and size (default 1)"
    )
    add_output_arguments(parser, ceiling_seconds=3.0, ceiling_for="at each size")
    return parser


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(parse_size(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"--sizes {text!r}: {exc}") from None
    if not sizes or any(not 1 <= size <= MAX_SIZE for size in sizes):
        raise ConfigError(f"--sizes takes sizes from 1 byte to {format_size(MAX_SIZE)}, e.g. 1KB,1MB")
    return tuple(sorted(set(sizes)))


def parse_plan(args: argparse.Namespace) -> SweepPlan:
    """The sweep's plan from its flags; one line naming the flag for anything out of shape."""
    loaders = tuple(x.strip() for x in args.loaders.split(",") if x.strip())
    unknown = unknown_loaders(list(loaders))
    if unknown or not loaders:
        raise ConfigError(f"--loaders: unknown {unknown or 'none given'} (e.g. s3iter,s3iter@8,shards,local)")
    try:
        budget = parse_size(args.bytes_per_point)
    except ValueError as exc:
        raise ConfigError(f"--bytes-per-point: {exc}") from None
    if args.min_objects < 1 or args.workers < 0 or args.repeats < 1 or args.ceiling_seconds < 0:
        raise ConfigError(
            "--min-objects and --repeats must be at least 1, --workers and --ceiling-seconds not negative"
        )
    if args.imagenet < 0:
        raise ConfigError(f"--imagenet takes a count of objects, or 0 for none, not {args.imagenet}")
    sizes = _sizes(args.sizes)
    knobs_at = None
    if args.knobs_at.strip().lower() != "none":
        try:
            knobs_at = parse_size(args.knobs_at)
        except ValueError as exc:
            raise ConfigError(f"--knobs-at {args.knobs_at!r}: {exc}") from None
        # The default names 1 MB; a sweep without that size simply has no knob passes.
        if knobs_at not in sizes and args.knobs_at != "1MB":
            raise ConfigError(f"--knobs-at {args.knobs_at!r} is none of --sizes; give one of them, or none")
    return SweepPlan(
        sizes=sizes,
        knobs_at=knobs_at,
        bytes_per_point=budget,
        min_objects=args.min_objects,
        max_objects=max(args.max_objects, args.min_objects),
        loaders=loaders,
        workers=args.workers,
        repeats=args.repeats,
        ceiling_seconds=args.ceiling_seconds,
        imagenet=args.imagenet,
    )


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    plan = parse_plan(args)
    loaded = load_settings(args.env_file, require=MINIO_VARS + S3_VARS)
    # The sweep's datasets live outside DATA_PREFIX, where the trainer's keys may not read (its
    # grant names that prefix alone): the sweep seeds and reads them with the admin keys.
    settings = dataclasses.replace(
        loaded, aws_access_key_id=loaded.minio_access_key, aws_secret_access_key=loaded.minio_secret_key
    )
    from trainer.connector import export_credentials

    # Four workers on two cores is part of the measurement, not a mistake.
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    log = partial(print, flush=True)
    client = minio_client(settings, convention="s3")
    admin = minio_client(settings, pool_size=settings.seed_workers)
    check_access(admin, settings)
    export_credentials(settings)
    started = time.monotonic()
    points = sweep(admin, settings, plan, get_counter(settings), log)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    found = size_report.ratios(points)
    crossover = size_report.crossover(points)
    print()
    print(size_report.table(points))
    print()
    for ratio in found:
        print(ratio.line())
    print(f"crossover (best per-object loader reaches 80% of shards' MB/s): {crossover}")
    for extra in (size_report.knobs_table(points), size_report.decode_table(points)):
        if extra:
            print()
            print(extra)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out / f"bench-sizes-{stamp}.json", out / f"bench-sizes-{stamp}.png"
    title = f"Loaders by object size, {settings.store} at {settings.aws_endpoint_url}, {plan.workers} workers"
    size_report.chart(points, png_path, title)
    write_json(
        json_path,
        {
            "stamp": stamp,
            "store": settings.store,
            "endpoint": settings.aws_endpoint_url,
            "argv": argv,
            "plan": vars(plan),
            "points": [p.as_dict() for p in points],
            "ratios": [{**vars(r), "met": r.met} for r in found],
            "crossover": crossover,
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    with store_errors(settings, "s3"):
        for path, kind in ((json_path, "application/json"), (png_path, "image/png")):
            client.fput_object(settings.bucket, f"runs/{path.stem}/{path.name}", str(path), content_type=kind)
    log(f"bench sizes: wrote {json_path} and {png_path} in {time.monotonic() - started:.0f} s")
    wrong = [f"{p.label}: {w}" for p in points for w in p.wrong]
    if wrong:
        raise DataError(f"passes that did not deliver every key once with all its bytes: {'; '.join(wrong)}")
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    run(PROG, lambda: _main(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    main()
