"""A training run at a glance: ``report.png`` beside ``metrics.json``, and ``python -m trainer.run_report``.

Four panels, from the run's metrics: loss per step (with each epoch's mean), accuracy per step and
train/test accuracy per epoch, samples/s with the time split into waiting for data and computing,
and how the samples spread over ranks and workers in the last epoch.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

from labcore.cli import run
from labcore.clients import minio_client, read_json, store_errors
from labcore.errors import ConfigError
from labcore.settings import S3_VARS, load_settings


def render(metrics: dict) -> bytes:
    """The run's report as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = metrics["per_epoch"]
    fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
    fig.suptitle(
        f"run {metrics['run_id']}: {metrics['loader']}, {metrics.get('world_size', 1)} rank(s) x "
        f"{metrics['workers']} workers, batch {metrics['batch_size']}; final test accuracy "
        f"{metrics['final_test_accuracy']:.1%}",
        fontsize=12,
    )
    _loss(axes[0][0], epochs)
    _accuracy(axes[0][1], epochs)
    _speed(axes[1][0], epochs)
    _spread(axes[1][1], epochs[-1])
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    plt.close(fig)
    return out.getvalue()


def _steps(epochs: list[dict]):
    """(x, loss, accuracy) over the whole run: x is the epoch plus the step's fraction of it."""
    xs, losses, accuracies = [], [], []
    for e in epochs:
        series = e.get("series") or []
        last = max((s[0] for s in series), default=1)
        for step, loss, accuracy, _ in series:
            xs.append(e["epoch"] - 1 + step / last)
            losses.append(loss)
            accuracies.append(accuracy)
    return xs, losses, accuracies


def _loss(ax, epochs: list[dict]) -> None:
    xs, losses, _ = _steps(epochs)
    ax.plot(xs, losses, lw=0.6, alpha=0.6, color="tab:blue", label="each step (rank 0's batch)")
    centres = [e["epoch"] - 0.5 for e in epochs]
    ax.plot(centres, [e["loss"] for e in epochs], "o-", color="tab:red", label="epoch mean")
    ax.set(title="Training loss", ylabel="cross-entropy")
    _epoch_axis(ax, epochs)
    ax.legend(loc="upper right")


def _epoch_axis(ax, epochs: list[dict]) -> None:
    """Steps run from epoch-1 to epoch on x; each epoch is labelled at its middle, bounded by lines."""
    ax.set_xticks([e["epoch"] - 0.5 for e in epochs], [str(e["epoch"]) for e in epochs])
    for e in epochs:
        ax.axvline(e["epoch"], color="lightgray", lw=0.8, zorder=0)
    ax.set_xlim(epochs[0]["epoch"] - 1, epochs[-1]["epoch"])
    ax.set_xlabel("epoch (its steps left to right)")


def _accuracy(ax, epochs: list[dict]) -> None:
    xs, _, accuracies = _steps(epochs)
    ax.plot(xs, accuracies, lw=0.6, alpha=0.4, color="tab:blue", label="each step (train batch)")
    centres = [e["epoch"] - 0.5 for e in epochs]
    ax.plot(centres, [e["train_accuracy"] for e in epochs], "o-", color="tab:blue", label="train, epoch")
    ax.plot(centres, [e["test_accuracy"] for e in epochs], "s-", color="tab:green", label="test, epoch")
    ax.set(title="Accuracy", ylabel="fraction correct", ylim=(0, 1.03))
    _epoch_axis(ax, epochs)
    ax.legend(loc="lower right")


def _speed(ax, epochs: list[dict]) -> None:
    numbers = [e["epoch"] for e in epochs]
    data = [e["data_seconds"] for e in epochs]
    compute = [e["compute_seconds"] for e in epochs]
    ax.bar(numbers, data, color="tab:orange", label="waiting for data (s)")
    ax.bar(numbers, compute, bottom=data, color="tab:gray", label="computing (s)")
    ax.set(title="Epoch time and samples/s", xlabel="epoch", ylabel="seconds")
    ax.set_xticks(numbers)
    rate = ax.twinx()
    rate.plot(numbers, [e["samples_per_second"] for e in epochs], "D-", color="tab:purple", label="samples/s")
    rate.set_ylabel("samples/s")
    # Head room above bars and line for the two legends.
    ax.set_ylim(0, 1.4 * max(d + c for d, c in zip(data, compute, strict=True)) or 1)
    rate.set_ylim(0, 1.4 * max(e["samples_per_second"] for e in epochs) or 1)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)
    rate.legend(loc="upper right", fontsize=8, framealpha=0.9)


def _spread(ax, last: dict) -> None:
    spread = last.get("samples_per_worker") or {}
    names = list(spread)
    ax.bar(range(len(names)), [spread[n] for n in names], color="tab:cyan")
    ax.set_xticks(range(len(names)), names)
    by_rank = last.get("samples_per_rank") or {}
    where = ", ".join(f"rank {r}: {n}" for r, n in by_rank.items())
    ax.set(
        title=f"Samples per {'rank/worker' if by_rank else 'worker'}, epoch {last['epoch']}"
        + (f" ({where})" if where else ""),
        xlabel="rank/worker" if by_rank else "DataLoader worker",
        ylabel="samples",
    )


def build_parser() -> argparse.ArgumentParser:
    """``python -m trainer.run_report``: fetch a run's report and metrics to a local folder."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer.run_report",
        description="Copy report.png and metrics.json of a training run from s3://$BUCKET/runs/<run-id>/ "
        "to a local folder (default: the run that finished last).",
    )
    parser.add_argument("--run-id", metavar="ID", help="the run (default: the latest one with metrics)")
    parser.add_argument("--out", default="results", help="local folder (default results/)")
    parser.add_argument("--env-file", metavar="FILE", help="read settings from FILE instead of ./.env")
    return parser


def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings(args.env_file, require=S3_VARS, overrides={"RUN_ID": args.run_id})
    client = minio_client(settings, convention="s3")
    with store_errors(settings, "s3"):
        run_id = settings.run_id or _latest(client, settings.bucket)
        metrics = read_json(client, settings.bucket, f"runs/{run_id}/metrics.json") if run_id else None
        if metrics is None:
            raise ConfigError(
                f"no finished run {'named ' + run_id + ' ' if run_id else ''}under s3://{settings.bucket}/runs/: train one first (make train)"
            )
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{run_id}-metrics.json").write_text(json.dumps(metrics, indent=2))
        client.fget_object(settings.bucket, f"runs/{run_id}/report.png", str(out / f"{run_id}-report.png"))
    print(f"report: {out / (run_id + '-report.png')} and {out / (run_id + '-metrics.json')}", flush=True)
    return 0


def _latest(client, bucket: str) -> str | None:
    newest = None
    for obj in client.list_objects(bucket, prefix="runs/", recursive=True):
        if obj.object_name.endswith("/report.png") and (
            newest is None or obj.last_modified > newest.last_modified
        ):
            newest = obj
    return newest.object_name.split("/")[1] if newest else None


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    run("python -m trainer.run_report", lambda: _main(argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":
    main()
