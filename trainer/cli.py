"""``python -m trainer``: train a small CNN on MNIST streamed from MinIO."""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import sys
import time
from dataclasses import dataclass, field

from labcore.cli import root_message, run
from labcore.clients import minio_client, read_json, store_errors
from labcore.errors import ConfigError, DataError, StoreError
from labcore.layout import parse_key, split_prefix
from labcore.settings import LOADERS, S3_VARS, Settings, load_settings
from labcore.shards import manifest_key, shards_prefix
from trainer.checkpoints import Checkpointer, Resumed, latest_run
from trainer.loop import sample_id


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
            "  s3iter  S3IterableDataset.from_prefix(..., enable_sharding=True), streaming (default)\n"
            "  map     S3MapDataset.from_prefix, random access, shuffled indices\n"
            "  manual  a hand-written IterableDataset on the MinIO SDK, sharded by worker_info\n"
            "  shards  S3IterableDataset over tar shards (seed with --format shards), one GET per shard\n\n"
            "example:\n  python -m trainer --loader s3iter --workers 4 --epochs 2\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 0.001)")
    parser.add_argument(
        "--shuffle-buffer",
        type=int,
        metavar="N",
        help="samples each worker holds to shuffle a streamed loader; 0 keeps listing order "
        "[env SHUFFLE_BUFFER, default 8192]",
    )
    parser.add_argument(
        "--seed", type=int, metavar="N", help="seed for weights and shuffling [env SEED, default 0]"
    )
    parser.add_argument(
        "--run-id", metavar="ID", help="name of the run's folder under runs/ (default: time + random)"
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
        "--strict",
        action="store_true",
        help="stop at the first unusable object (outside the layout, empty, not a 28x28 PNG) instead of "
        "counting and skipping it",
    )
    parser.add_argument("--env-file", metavar="FILE", help="read settings from FILE instead of ./.env")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


@dataclass
class SplitPlan:
    """What a split holds, from the listing before training: sample ids and, for shards, shards."""

    expected: set[tuple[str, int]]
    shard_keys: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.expected)


def plan_split(client, settings: Settings, split: str, *, shards: bool, strict: bool = False) -> SplitPlan:
    """List one split (per-object or shard layout) and check it before any training starts."""
    if shards:
        return _plan_shards(client, settings, split)
    return SplitPlan({sample_id(k) for k in list_split(client, settings, split, strict=strict)})


def _plan_shards(client, settings: Settings, split: str) -> SplitPlan:
    prefix = shards_prefix(settings.data_prefix)
    where = f"s3://{settings.bucket}/{prefix}/"
    with store_errors(settings, "s3"):
        manifest = read_json(client, settings.bucket, manifest_key(prefix))
        if manifest is None:
            raise DataError(
                f"no shard manifest at {where}manifest.json: seed shards first "
                "(make seed ARGS='--format shards'), or check BUCKET and DATA_PREFIX"
            )
        listed = {
            o.object_name
            for o in client.list_objects(settings.bucket, split_prefix(prefix, split), recursive=True)
        }
    entry = manifest.get("splits", {}).get(split)
    if not entry:
        raise DataError(f"the shard manifest at {where} has no {split} split: re-seed with --format shards")
    keys = [s["key"] for s in entry["shards"]]
    if set(keys) != listed:
        raise DataError(
            f"shards under {where}{split}/ differ from the manifest ({len(listed)} listed, {len(keys)} in the "
            "manifest): re-seed with --format shards --prune"
        )
    return SplitPlan({(split, i) for i in range(entry["samples"])}, keys)


def list_split(client, settings: Settings, split: str, *, strict: bool = False) -> set[str]:
    """Every key of one split, checked against the layout before any training starts.

    Keys outside the layout are data problems: reported here and skipped when they arrive, or,
    with ``strict``, an error before any work.
    """
    prefix = split_prefix(settings.data_prefix, split)
    where = f"s3://{settings.bucket}/{prefix}"
    with store_errors(settings, "s3"):
        keys = {o.object_name for o in client.list_objects(settings.bucket, prefix=prefix, recursive=True)}
    if not keys:
        raise DataError(
            f"no objects under {where}: seed the bucket first (make up), or check BUCKET and DATA_PREFIX"
        )
    bad = []
    for key in keys:
        try:
            parse_key(key)
        except ValueError:
            bad.append(key)
    if bad and strict:
        raise DataError(
            f"{len(bad)} objects under {where} are outside the <label>/<index>.png layout, e.g. "
            f"{sorted(bad)[0]}: remove them, or seed into a clean DATA_PREFIX (--strict)"
        )
    if bad:
        print(
            f"warning: {len(bad)} objects under {where} are outside the <label>/<index>.png layout and "
            f"will be skipped, e.g. {sorted(bad)[0]} (--strict makes this an error)",
            file=sys.stderr,
            flush=True,
        )
    return keys


def export_credentials(settings: Settings) -> None:
    """The connector's CRT client reads credentials from the environment, not from arguments."""
    os.environ["AWS_ACCESS_KEY_ID"] = settings.aws_access_key_id
    os.environ["AWS_SECRET_ACCESS_KEY"] = settings.aws_secret_access_key
    os.environ["AWS_REGION"] = settings.aws_region
    os.environ.pop("AWS_SESSION_TOKEN", None)


def save_run(settings: Settings, run_id: str, model, metrics: dict) -> str:
    """Write ``model.pt`` and ``metrics.json`` under ``runs/<run-id>/`` with ``S3Checkpoint``."""
    import torch
    from s3torchconnector import S3Checkpoint

    from trainer.datasets import connector_config

    base = f"s3://{settings.bucket}/runs/{run_id}/"
    checkpoint = S3Checkpoint(
        settings.aws_region, endpoint=settings.aws_endpoint_url, s3client_config=connector_config()
    )
    with checkpoint.writer(base + "model.pt") as writer:
        torch.save(model.state_dict(), writer)
    with checkpoint.writer(base + "metrics.json") as writer:
        writer.write(json.dumps(metrics, indent=2).encode())
    return base


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings(args.env_file, require=S3_VARS)
    loader_kind = args.loader or settings.loader
    workers = args.workers if args.workers is not None else settings.num_workers
    batch_size = args.batch_size or settings.batch_size
    epochs = args.epochs or settings.epochs
    shuffle_buffer = args.shuffle_buffer if args.shuffle_buffer is not None else settings.shuffle_buffer
    seed = args.seed if args.seed is not None else settings.seed
    for flag, value, minimum in (
        ("--workers", workers, 0),
        ("--batch-size", batch_size, 1),
        ("--epochs", epochs, 1),
        ("--shuffle-buffer", shuffle_buffer, 0),
    ):
        if value < minimum:
            raise SystemExit(f"python -m trainer: error: {flag} must be at least {minimum}")
    checkpoint_every = (
        args.checkpoint_every if args.checkpoint_every is not None else settings.checkpoint_every
    )
    if checkpoint_every < 0:
        raise SystemExit("python -m trainer: error: --checkpoint-every must be at least 0")
    resume = args.resume if args.resume is not None else settings.resume
    progress = not args.no_progress and sys.stderr.isatty()

    # Configuration and data layout are checked before torch is even imported.
    client = minio_client(settings, convention="s3")
    run_id = args.run_id
    if resume and not run_id:
        with store_errors(settings, "s3"):
            run_id = latest_run(client, settings)
        if not run_id:
            raise ConfigError(f"nothing to resume: no checkpoints under s3://{settings.bucket}/checkpoints/")
    run_id = run_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    shards = loader_kind == "shards"
    train_plan = plan_split(client, settings, "train", shards=shards, strict=args.strict)
    test_plan = plan_split(client, settings, "test", shards=shards, strict=args.strict)
    noun = "samples" if shards else "objects"
    export_credentials(settings)

    import torch
    from s3torchconnectorclient import S3Exception

    from trainer.datasets import build_loader
    from trainer.loop import EpochReport, evaluate, train_epoch, worker_counts
    from trainer.model import SmallCNN

    torch.manual_seed(seed)
    common = {"batch_size": batch_size, "workers": workers, "shuffle_buffer": shuffle_buffer, "seed": seed}
    train_loader = build_loader(
        loader_kind, settings, "train", shuffle=True, shard_keys=train_plan.shard_keys, **common
    )
    test_loader = build_loader(
        loader_kind, settings, "test", shuffle=False, shard_keys=test_plan.shard_keys, **common
    )
    model = SmallCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    config = {"loader": loader_kind, "lr": args.lr, **common}
    try:
        checkpointer = Checkpointer(settings, run_id, config)
        start = Resumed(epoch=1, step=0, trained=0, reports=[])
        if resume:
            with store_errors(settings, "s3"):
                start = checkpointer.restore(client, model, optimizer)
    except S3Exception as exc:
        raise StoreError(f"reading checkpoints of run {run_id} failed: {root_message(exc)}") from None
    print(
        f"run {run_id}: loader {loader_kind}, {workers} workers, batch {batch_size}, {epochs} epochs, "
        f"{len(train_plan)} train / {len(test_plan)} test {noun} from s3://{settings.bucket}/"
        f"{shards_prefix(settings.data_prefix) if shards else settings.data_prefix}/ at {settings.aws_endpoint_url}",
        flush=True,
    )
    if resume:
        print(
            f"run {run_id}: resuming at epoch {start.epoch}, after {start.step} batches "
            f"({start.trained} samples) already trained in it",
            flush=True,
        )
    reports = [EpochReport.from_dict(r) for r in start.reports]
    try:
        for epoch in range(start.epoch, epochs + 1):
            skip, trained_before = (start.step, start.trained) if epoch == start.epoch else (0, 0)
            history = [r.as_dict() for r in reports]

            def on_step(
                done: int, trained: int, epoch=epoch, trained_before=trained_before, history=history
            ) -> None:
                if checkpoint_every and done % checkpoint_every == 0:
                    checkpointer.save(
                        model,
                        optimizer,
                        epoch=epoch,
                        step=done,
                        trained=trained_before + trained,
                        reports=history,
                    )

            started = time.perf_counter()
            loss, train_acc, delivery, data_s, compute_s, trained = train_epoch(
                model,
                optimizer,
                train_loader.epoch(epoch),
                total_batches=math.ceil(len(train_plan) / batch_size),
                progress=progress,
                description=f"epoch {epoch}/{epochs}",
                strict=args.strict,
                skip_batches=skip,
                on_step=on_step,
            )
            seconds = time.perf_counter() - started
            test_acc, test_delivery = evaluate(model, test_loader.epoch(epoch))
            report = EpochReport(
                epoch=epoch,
                loss=loss,
                train_accuracy=train_acc,
                test_accuracy=test_acc,
                samples=delivery.samples,
                trained_samples=trained_before + trained,
                seconds=seconds,
                data_seconds=data_s,
                compute_seconds=compute_s,
                samples_per_worker=worker_counts(delivery),
                train_check=delivery.check(train_plan.expected, "train", noun),
                test_check=test_delivery.check(test_plan.expected, "test", noun),
            )
            reports.append(report)
            for line in report.lines(epochs):
                print(line, flush=True)
            # The end of an epoch is a checkpoint too: the next one starts at its batch 0.
            checkpointer.save(
                model, optimizer, epoch=epoch + 1, step=0, trained=0, reports=[r.as_dict() for r in reports]
            )
    except S3Exception as exc:
        raise StoreError(
            f"MinIO at {settings.aws_endpoint_url} failed during epoch {len(reports) + 1} ({root_message(exc)}); "
            f"continue with --resume --run-id {run_id}"
        ) from None

    metrics = {
        "run_id": run_id,
        "loader": loader_kind,
        "workers": workers,
        "batch_size": batch_size,
        "epochs": epochs,
        "shuffle_buffer": shuffle_buffer,
        "seed": seed,
        "checkpoints_saved": checkpointer.saved,
        "resumed": bool(resume),
        "train_objects": len(train_plan),
        "test_objects": len(test_plan),
        "final_test_accuracy": reports[-1].test_accuracy,
        "per_epoch": [r.as_dict() for r in reports],
    }
    try:
        base = save_run(settings, run_id, model, metrics)
    except S3Exception as exc:
        raise StoreError(f"saving the run to s3://{settings.bucket}/runs/{run_id}/ failed: {exc}") from None
    print(
        f"run {run_id}: test accuracy {reports[-1].test_accuracy:.2%} after {epochs} epochs; "
        f"model.pt and metrics.json at {base}",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs the trainer and exits with its status."""
    run("python -m trainer", lambda: _main(argv if argv is not None else sys.argv[1:]))
