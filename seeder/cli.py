"""``python -m seeder``: put MNIST (or any MNIST-style IDX dataset) into MinIO as PNG objects."""

from __future__ import annotations

import argparse
import sys

from labcore.access import trainer_access
from labcore.cli import run, say_notes, show_current_values
from labcore.clients import check_access, minio_client, store_errors
from labcore.dataset_record import write_dataset_record
from labcore.layout import SPLITS
from labcore.settings import MINIO_VARS, SEED_FORMATS, SEED_UPLOADS, load_settings
from labcore.shards import shards_prefix
from labcore.sources import SeedSplit, dataset_name, idx_directory, load_split
from labcore.synthetic import EXAMPLE as SYNTHETIC_EXAMPLE
from labcore.synthetic import FORM as SYNTHETIC_FORM
from labcore.synthetic import parse_synthetic
from seeder.upload import ensure_bucket, seed, seed_shards


def build_parser() -> argparse.ArgumentParser:
    """The seeder's command line; every flag defaults to its environment variable."""
    parser = argparse.ArgumentParser(
        prog="python -m seeder",
        description=(
            "Upload MNIST to MinIO as one lossless PNG per sample, at "
            "s3://$BUCKET/$DATA_PREFIX/<split>/<label>/<index>.png (or a synthetic dataset of a chosen "
            "object size, as <index>.bin, or ImageNet-like JPEGs, as <index>.jpg). Re-runs upload only what is "
            "missing or different. Connection settings come from .env and the environment "
            "(MINIO_ENDPOINT, MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, MINIO_SECURE)."
        ),
        epilog=(
            "examples:\n"
            "  python -m seeder                      # MNIST from the public mirrors\n"
            "  python -m seeder --source /usr/share/datasets/fashion-mnist --limit 1000\n"
            "  python -m seeder --source synthetic:2000:128KB --prefix synth-128k\n"
            "  python -m seeder --source synthetic:4096:imagenet --prefix imagenet-like\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--source",
        metavar="mnist|PATH|synthetic:...",
        help="'mnist' downloads and verifies MNIST; PATH is a directory of IDX files, raw or .gz; "
        f"'{SYNTHETIC_FORM}' (e.g. {SYNTHETIC_EXAMPLE}) makes <count> objects of <size> random bytes "
        "each, as .bin, for the bench at other object sizes; with 'imagenet' for <size>, JPEGs whose sizes "
        "follow ImageNet's (median 96 KB), as .jpg over 1,000 labels (test gets a sixth as many) "
        "[env SEED_SOURCE, default mnist]",
    )
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="take the first N samples of each split [env SEED_LIMIT, default all]",
    )
    parser.add_argument(
        "--splits",
        default=",".join(SPLITS),
        metavar="LIST",
        help="comma-separated splits to upload (default: train,test)",
    )
    parser.add_argument("--bucket", help="target bucket, created if missing [env BUCKET, default lab-data]")
    parser.add_argument("--prefix", help="key prefix of the dataset [env DATA_PREFIX, default mnist]")
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="parallel uploads [env SEED_WORKERS, default 16]",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where MNIST downloads are kept [env MNIST_CACHE_DIR, default ~/.cache/minio-torch-lab/mnist]",
    )
    parser.add_argument(
        "--format",
        choices=SEED_FORMATS,
        help="objects: one PNG per sample under $DATA_PREFIX/; shards: tar shards under "
        "$DATA_PREFIX-shards/ plus a manifest; both [env SEED_FORMAT, default objects]",
    )
    parser.add_argument(
        "--upload",
        choices=SEED_UPLOADS,
        help="how the objects format uploads: put, one PUT per object; snowball, tars of up to 1000 "
        "objects that MinIO extracts into the same objects (MinIO only) [env SEED_UPLOAD, default put]",
    )
    parser.add_argument(
        "--shard-size",
        type=int,
        metavar="N",
        help="samples per tar shard, at most [env SHARD_SIZE, default 1000]",
    )
    parser.add_argument(
        "--shard-bytes",
        metavar="SIZE",
        help="bytes per tar shard, at most: a shard closes at --shard-size samples or SIZE, whichever "
        "comes first (e.g. 64MB; 1 KB = 1,024 bytes) [env SHARD_BYTES, default 64MB]",
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="delete objects under the split prefixes that this source does not produce "
        "(e.g. left by an earlier run with a larger --limit)",
    )
    parser.add_argument("--env-file", metavar="FILE", help="read settings from FILE instead of ./.env")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars, summary only")
    show_current_values(parser)
    return parser


# Flags are overrides of these variables, validated with them in labcore.settings.
FLAG_VARS = {
    "source": "SEED_SOURCE",
    "limit": "SEED_LIMIT",
    "bucket": "BUCKET",
    "prefix": "DATA_PREFIX",
    "workers": "SEED_WORKERS",
    "cache_dir": "MNIST_CACHE_DIR",
    "format": "SEED_FORMAT",
    "upload": "SEED_UPLOAD",
    "shard_size": "SHARD_SIZE",
    "shard_bytes": "SHARD_BYTES",
}


def _load_source(settings, splits: list[str], progress: bool) -> tuple[list[SeedSplit], str]:
    """The splits to seed and the dataset's name: MNIST downloaded, IDX files, or synthetic."""
    source = settings.seed_source
    spec = parse_synthetic(source)
    if spec is not None:
        return [spec.split(name) for name in splits], spec.describe()
    directory = idx_directory(source, settings.mnist_cache_dir, settings.mnist_mirrors, progress=progress)
    return [load_split(directory, name) for name in splits], dataset_name(source, directory)


def _main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {var: getattr(args, name) for name, var in FLAG_VARS.items()}
    settings = load_settings(args.env_file, require=MINIO_VARS, overrides=overrides)
    say_notes("python -m seeder", settings.notes)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    unknown = [s for s in splits if s not in SPLITS]
    if unknown or not splits:
        raise SystemExit(
            f"python -m seeder: error: --splits takes {' and/or '.join(SPLITS)}, not {args.splits!r}"
        )
    limit, workers, seed_format = settings.seed_limit, settings.seed_workers, settings.seed_format
    bucket, prefix = settings.bucket, settings.data_prefix
    progress = not args.no_progress

    client = minio_client(settings, pool_size=workers)
    # Check the server before any download or decoding: configuration errors come first.
    check_access(client, settings)

    data, name = _load_source(settings, splits, progress)

    common = {"limit": limit, "workers": workers, "prune": args.prune, "progress": progress}
    with store_errors(settings):
        # The trainer's grant names the bucket, and on some stores (a bucket policy, Garage's
        # per-bucket grants) it has to exist first; seed() and seed_shards() would make it too.
        ensure_bucket(client, bucket)
        access = trainer_access(settings)
        if access:
            print(access, flush=True)
        if seed_format in ("objects", "both"):
            report = seed(client, bucket, prefix, data, upload=settings.seed_upload, **common)
            write_dataset_record(client, bucket, prefix, name)
            print(f"{name}: {report.line()}", flush=True)
        if seed_format in ("shards", "both"):
            report = seed_shards(
                client,
                bucket,
                shards_prefix(prefix),
                data,
                shard_size=settings.shard_size,
                shard_bytes=settings.shard_bytes,
                **common,
            )
            print(report.line(), flush=True)
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the seeder and exits with its status."""
    run("python -m seeder", lambda: _main(argv if argv is not None else sys.argv[1:]))
