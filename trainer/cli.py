"""``python -m trainer``: train a small CNN on MNIST streamed from MinIO, as one process or under torchrun."""

from __future__ import annotations

import argparse
import sys

from labcore.cli import run, show_current_values
from labcore.clients import minio_client, store_errors
from labcore.settings import LOADERS, S3_VARS, Settings, load_settings
from labcore.shards import shards_prefix
from trainer.deadlines import settings_deadlines
from trainer.planning import SplitPlan, plan_split
from trainer.rank_stop import as_rank, stop_on_sigterm, world_size
from trainer.run_ids import checkpoint_to_resume, choose_run_id, start_afresh

# Every other flag overrides the variable of its name (--batch-size: BATCH_SIZE), so it goes
# through the same validation in labcore.settings.
_RENAMED = {"workers": "NUM_WORKERS", "bucket": "BUCKET", "prefix": "DATA_PREFIX"}
_NOT_SETTINGS = ("env_file", "strict", "overwrite", "no_progress")


def build_parser() -> argparse.ArgumentParser:
    """The trainer's command line; every flag defaults to its environment variable."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer",
        description=(
            "Train a small CNN on s3://$BUCKET/$DATA_PREFIX/train/ streamed from MinIO with the S3 "
            "Connector for PyTorch, evaluate on .../test/ each epoch, check that every object arrived "
            "exactly once, and save the model and metrics under s3://$BUCKET/runs/<run-id>/. "
            "Connection settings: AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY."
        ),
        epilog=(
            "loaders:\n"
            "  s3iter    S3IterableDataset.from_objects over a seeded permutation of the listed keys,\n"
            "            enable_sharding=True: streaming, fully shuffled (default)\n"
            "  s3prefix  S3IterableDataset.from_prefix in listing order, mixed by --shuffle-buffer only\n"
            "  map       S3MapDataset.from_prefix, random access, shuffled indices\n"
            "  manual    a hand-written IterableDataset on the MinIO SDK, sharded by worker_info\n"
            "  shards    S3IterableDataset over tar shards (seed with --format shards), one GET per shard\n\n"
            "examples:\n  python -m trainer --loader s3iter --workers 4 --epochs 2\n"
            "  torchrun --nproc-per-node 2 -m trainer --workers 2   # 2 ranks x 2 workers (docs/scaling-out.md)\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--bucket", help="the bucket the dataset is in and runs go to [env BUCKET, default lab-data]"
    )
    parser.add_argument("--prefix", help="key prefix of the dataset [env DATA_PREFIX, default mnist]")
    parser.add_argument(
        "--loader", choices=LOADERS, help="how samples are loaded [env LOADER, default s3iter]"
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="DataLoader worker processes [env NUM_WORKERS, default 2]"
    )
    parser.add_argument(
        "--batch-size", type=int, metavar="N", help="samples per batch [env BATCH_SIZE, default 64]"
    )
    parser.add_argument(
        "--epochs", type=int, metavar="N", help="passes over the training split [env EPOCHS, default 2]"
    )
    parser.add_argument("--lr", metavar="RATE", help="Adam learning rate [env LR, default 0.001]")
    buffer = (
        "samples each worker holds to shuffle s3prefix/shards; 0: none [env SHUFFLE_BUFFER, default 8192]"
    )
    parser.add_argument("--shuffle-buffer", type=int, metavar="N", help=buffer)
    ahead = "GETs in flight per worker for s3iter and manual; 1: one at a time [env READ_AHEAD, default 8]"
    parser.add_argument("--read-ahead", type=int, metavar="K", help=ahead)
    parser.add_argument(
        "--seed", type=int, metavar="N", help="seed for weights and shuffling [env SEED, default 0]"
    )
    _add_run_flags(parser)
    show_current_values(parser)
    return parser


def _add_run_flags(parser: argparse.ArgumentParser) -> None:
    """Flags about the run rather than the data: its name, checkpoints, strictness, output."""
    parser.add_argument(
        "--run-id",
        metavar="ID",
        help="name of the run's folder under runs/ and checkpoints/: letters, digits, '.', '_', '-' "
        "(default: time + random) [env RUN_ID]",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="K",
        help="save a checkpoint to s3://$BUCKET/checkpoints/<run-id>/ every K steps (0: only at the end "
        "of each epoch) [env CHECKPOINT_EVERY, default 500]",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        default=None,
        help="continue --run-id (default: the run checkpointed last) from its latest checkpoint [env RESUME]",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start --run-id afresh even though it exists; a resume continues only the new run, never the old",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first unusable object (outside the layout, empty, not a 28x28 PNG) instead of "
        "counting and skipping it",
    )
    parser.add_argument("--env-file", metavar="FILE", help="read settings from FILE instead of ./.env")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def read_settings(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Settings:
    """The settings of a run: the flags in ``args`` over the environment and .env (or ``environ``)."""
    overrides = {_RENAMED.get(k, k.upper()): v for k, v in vars(args).items() if k not in _NOT_SETTINGS}
    return load_settings(args.env_file, require=S3_VARS, environ=environ, overrides=overrides)


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = read_settings(args)
    limits = settings_deadlines(settings, distributed=world_size() > 1)
    client = minio_client(settings, convention="s3")
    # A single process has no rank to share its plan with, so it plans before torch is imported:
    # a mistake in the flags, settings, deadlines, bucket, credentials or listing is one line
    # without paying for torch's import (seconds of CPU).
    planned = _plan(client, settings, args) if world_size() == 1 else None
    from trainer.distributed import join_world

    world = join_world(limits)
    try:
        # Under torchrun rank 0 lists, checks and names the run; every rank gets the same answer
        # (or the same error).
        decided = planned or world.decide(lambda: _plan(client, settings, args))
        return _train(settings, world, args, *decided)
    finally:
        world.close()


def _plan(
    client, settings: Settings, args: argparse.Namespace
) -> tuple[str, str | None, SplitPlan, SplitPlan]:
    """The run's id (checked against the bucket), the key of the checkpoint it resumes from (None:
    it starts afresh) and the plans of its train and test splits."""
    shards = settings.loader == "shards"
    with store_errors(settings, "s3"):
        run_id = choose_run_id(client, settings, settings.run_id, settings.resume, args.overwrite)
        if args.overwrite and not settings.resume:
            start_afresh(client, settings, run_id)
        resume_from = checkpoint_to_resume(client, settings, run_id) if settings.resume else None
    splits = [plan_split(client, settings, s, shards=shards, strict=args.strict) for s in ("train", "test")]
    layout = shards_prefix(settings.data_prefix) if shards else settings.data_prefix
    splits[0].check_trainable(f"s3://{settings.bucket}/{layout}/")
    return run_id, resume_from, *splits


def _train(
    settings: Settings, world, args, run_id: str, resume_from: str | None, train_plan, test_plan
) -> int:
    from trainer.session import Session

    world.hint = f"continue with --resume --run-id {run_id}"
    if world.distributed:
        stop_on_sigterm(world)
    session = Session(settings, world, run_id, train_plan, test_plan, strict=args.strict)
    progress = not args.no_progress and sys.stderr.isatty()
    start = session.prepare(resume_from)
    session.announce(start)
    return session.run(start, progress=progress)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the trainer and exits with its status."""
    run("python -m trainer", lambda: as_rank(lambda: _main(argv if argv is not None else sys.argv[1:])))
