"""The training loop, the same for every loader, with the exactly-once check built in."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from tqdm import tqdm

from labcore.errors import DataError


@dataclass
class Delivery:
    """Which keys a pass over a split delivered, and from which workers."""

    keys: Counter = field(default_factory=Counter)
    per_worker: Counter = field(default_factory=Counter)

    def add(self, keys: Iterable[str], workers: Iterable[int]) -> None:
        self.keys.update(keys)
        self.per_worker.update(int(w) for w in workers)

    @property
    def samples(self) -> int:
        return sum(self.keys.values())

    @property
    def duplicates(self) -> int:
        return self.samples - len(self.keys)

    def check(self, expected: set[str], what: str) -> str:
        """The exactly-once line; ``DataError`` when any object is missing, extra or repeated."""
        missing = expected - self.keys.keys()
        unexpected = self.keys.keys() - expected
        line = f"{what}: {len(self.keys)} of {len(expected)} objects, {self.duplicates} duplicates"
        if missing or unexpected or self.duplicates:
            example = (
                sorted(missing)[:1]
                or sorted(unexpected)[:1]
                or [k for k, n in self.keys.items() if n > 1][:1]
            )
            raise DataError(
                f"exactly-once check failed: {line}, {len(missing)} missing, {len(unexpected)} unexpected "
                f"(e.g. {example[0]})"
            )
        return line


@dataclass
class EpochReport:
    """What one epoch did; printed, and saved in the run's metrics."""

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    samples: int
    seconds: float
    data_seconds: float
    compute_seconds: float
    samples_per_worker: dict[str, int]
    train_check: str
    test_check: str

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0

    def lines(self, epochs: int) -> list[str]:
        workers = ", ".join(f"{w}: {n}" for w, n in self.samples_per_worker.items())
        return [
            f"epoch {self.epoch}/{epochs}: loss {self.loss:.4f}, train accuracy {self.train_accuracy:.2%}, "
            f"test accuracy {self.test_accuracy:.2%}",
            f"epoch {self.epoch}/{epochs}: {self.samples_per_second:.0f} samples/s, {self.seconds:.1f} s "
            f"({self.data_seconds:.1f} s waiting for data, {self.compute_seconds:.1f} s computing), "
            f"samples per worker {{{workers}}}",
            f"epoch {self.epoch}/{epochs}: {self.train_check}; {self.test_check}",
        ]

    def as_dict(self) -> dict:
        return {**asdict(self), "samples_per_second": self.samples_per_second}


def _label_of_worker(worker: int) -> str:
    return "main" if worker < 0 else str(worker)


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable,
    *,
    total_batches: int | None = None,
    progress: bool = True,
    description: str = "train",
) -> tuple[float, float, Delivery, float, float]:
    """One pass over ``batches``: mean loss, accuracy, delivery, seconds on data, on compute."""
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    delivery = Delivery()
    loss_sum = correct = 0.0
    data_seconds = compute_seconds = 0.0
    iterator = iter(batches)
    with tqdm(total=total_batches, desc=description, unit="batch", disable=not progress, leave=False) as bar:
        while True:
            waited = time.perf_counter()
            try:
                images, labels, keys, workers = next(iterator)
            except StopIteration:
                break
            started = time.perf_counter()
            data_seconds += started - waited
            optimizer.zero_grad(set_to_none=True)
            logits = model(images)
            loss = loss_fn(logits, labels)
            loss.backward()
            optimizer.step()
            compute_seconds += time.perf_counter() - started
            loss_sum += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            delivery.add(keys, workers.tolist())
            bar.update(1)
    n = max(delivery.samples, 1)
    return loss_sum / n, correct / n, delivery, data_seconds, compute_seconds


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable) -> tuple[float, Delivery]:
    """Accuracy over ``batches`` and which keys they held."""
    model.eval()
    delivery = Delivery()
    correct = 0
    for images, labels, keys, workers in batches:
        correct += (model(images).argmax(1) == labels).sum().item()
        delivery.add(keys, workers.tolist())
    return correct / max(delivery.samples, 1), delivery


def worker_counts(delivery: Delivery) -> dict[str, int]:
    """Samples per worker, keyed by worker id (``main`` without workers)."""
    return {_label_of_worker(w): n for w, n in sorted(delivery.per_worker.items())}
