"""End-to-end training per loader: the real trainer, today's model, one epoch at default settings.

Each run is ``python -m trainer`` in a process of its own, exactly as a user runs it (same
settings, same model), and its numbers come from the ``metrics.json`` it saves under ``runs/``:
samples/s, epoch time, the time spent waiting for data, test accuracy and batch label entropy.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from labcore.clients import read_json, store_errors
from labcore.errors import DataError
from labcore.settings import LOADERS, Settings
from trainer.measure import TreeMonitor


@dataclass
class TrainRun:
    """One epoch of ``python -m trainer`` with one loader and seed."""

    loader: str
    seed: int
    run_id: str
    samples: int
    seconds: float
    data_seconds: float  # waiting for every batch after the first
    test_accuracy: float
    label_entropy_bits: float
    # Shares of the machine's CPU over the whole run (start, epoch, test): trainer main process,
    # its DataLoader workers, server and others, idle.
    cpu: dict = field(default_factory=dict)
    # Waiting for the first batch: the DataLoader workers' start-up and their first reads.
    startup_seconds: float = 0.0

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0

    @property
    def data_wait(self) -> float:
        """Fraction of the epoch spent waiting for a batch after the first (the data's share)."""
        return self.data_seconds / self.seconds if self.seconds else 0.0

    @property
    def startup_share(self) -> float:
        """Fraction of the epoch spent waiting for its first batch (start-up)."""
        return self.startup_seconds / self.seconds if self.seconds else 0.0

    def row(self) -> dict:
        return {
            **asdict(self),
            "samples_per_s": self.samples_per_s,
            "data_wait": self.data_wait,
            "startup_share": self.startup_share,
        }


def train_once(
    settings: Settings, client, loader: str, seed: int, run_id: str, env_file: str | None = None
) -> TrainRun:
    """Train one epoch with ``loader`` and ``seed`` as ``run_id``; the trainer's own error if it fails."""
    argv = [sys.executable, "-m", "trainer", "--loader", loader, "--epochs", "1", "--seed", str(seed)]
    argv += ["--run-id", run_id, "--checkpoint-every", "0", "--no-progress"]
    if env_file:
        argv += ["--env-file", env_file]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with TreeMonitor(process.pid, interval=0.2) as monitor:
        _, stderr = process.communicate()
    if process.returncode != 0:
        lines = [line for line in stderr.splitlines() if line.strip()] or ["(no output)"]
        raise DataError(f"training with --loader {loader} --seed {seed} failed: {lines[-1]}")
    with store_errors(settings, "s3"):
        metrics = read_json(client, settings.bucket, f"runs/{run_id}/metrics.json")
    if not metrics or not metrics.get("per_epoch"):
        raise DataError(f"run {run_id} finished without runs/{run_id}/metrics.json")
    epoch = metrics["per_epoch"][-1]
    return TrainRun(
        loader,
        seed,
        run_id,
        epoch["samples"],
        epoch["seconds"],
        epoch["data_seconds"],
        epoch["test_accuracy"],
        epoch.get("label_entropy_bits", 0.0),
        {k: round(v, 3) for k, v in monitor.cpu.shares().items()},
        epoch.get("startup_seconds", 0.0),
    )


def run_plan(loaders: list[str], seeds: int, seeded_loaders: tuple[str, ...]) -> list[tuple[str, int]]:
    """Seed 0 of every loader, then seeds 1.. of ``seeded_loaders`` (the accuracy comparison)."""
    plan = [(loader, 0) for loader in loaders]
    return plan + [(lo, seed) for seed in range(1, seeds) for lo in seeded_loaders if lo in loaders]


def train_runs(
    settings: Settings,
    client,
    loaders: list[str],
    seeds: int,
    stamp: str,
    *,
    seeded_loaders: tuple[str, ...] = ("s3iter", "map"),
    env_file: str | None = None,
    log: Callable[[str], None] = print,
) -> list[TrainRun]:
    """One epoch per :func:`run_plan` entry, in that order."""
    runs = []
    for loader, seed in run_plan(loaders, seeds, seeded_loaders):
        if loader not in LOADERS:
            raise DataError(f"cannot train with loader {loader!r}: one of {', '.join(LOADERS)}")
        run = train_once(settings, client, loader, seed, f"bench-{stamp}-{loader}-s{seed}", env_file)
        log(
            f"bench: train {loader:8s} seed {seed}: {run.samples_per_s:6.0f} samples/s, epoch {run.seconds:5.1f} s, "
            f"first batch {run.startup_seconds:4.1f} s, waiting for data {run.data_wait:5.1%}, test accuracy {run.test_accuracy:.2%}, "
            f"label entropy {run.label_entropy_bits:.2f} bits"
        )
        runs.append(run)
    return runs


def mean_over_seeds(runs: list[TrainRun], loader: str, attribute: str) -> float | None:
    """Mean of ``attribute`` over every seed of ``loader`` (``None`` if it never ran)."""
    values = [getattr(r, attribute) for r in runs if r.loader == loader]
    return statistics.fmean(values) if values else None
