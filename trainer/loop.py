"""The training loop, the same for every loader, with the exactly-once check built in."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn
from tqdm import tqdm

from labcore.errors import DataError
from labcore.layout import parse_key


def sample_id(key: str) -> tuple[str, int] | str:
    """``(split, index)``: what identifies a sample in either layout (objects or shards).

    A key outside the layout is its own id: it must still arrive exactly once, to be skipped.
    """
    try:
        parts = parse_key(key)
    except ValueError:
        return key
    return parts.split, parts.index


@dataclass
class Delivery:
    """Which keys a pass over a split delivered, and from which workers."""

    keys: Counter = field(default_factory=Counter)
    per_worker: Counter = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)

    def add(
        self, keys: Iterable[str], workers: Iterable[int], problems: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.keys.update(keys)
        self.per_worker.update(int(w) for w in workers)
        self.problems.extend(problems)

    @property
    def samples(self) -> int:
        return sum(self.keys.values())

    def check(self, expected: set[tuple[str, int]], what: str, noun: str = "objects") -> str:
        """The exactly-once line; ``DataError`` when any sample is missing, extra or repeated.

        ``expected`` holds sample ids (:func:`sample_id`), so one check serves both layouts.
        """
        seen = Counter(sample_id(key) for key in self.keys.elements())
        repeated = sum(seen.values()) - len(seen)
        missing = expected - seen.keys()
        unexpected = seen.keys() - expected
        line = f"{what}: {len(seen)} of {len(expected)} {noun}, {repeated} duplicates"
        if missing or unexpected or repeated:
            example = (
                sorted(map(str, missing))[:1]
                or sorted(map(str, unexpected))[:1]
                or [str(k) for k, n in seen.items() if n > 1][:1]
            )
            raise DataError(
                f"exactly-once check failed: {line}, {len(missing)} missing, {len(unexpected)} unexpected "
                f"(e.g. {example[0]})"
            )
        if self.problems:
            key, why = sorted(self.problems)[0]
            line += f", {len(self.problems)} skipped as unusable (e.g. {key}: {why})"
        return line


@dataclass
class EpochReport:
    """What one epoch did; printed, and saved in the run's metrics."""

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    samples: int
    trained_samples: int
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

    @classmethod
    def from_dict(cls, data: dict) -> EpochReport:
        """The inverse of :meth:`as_dict` (reports travel inside checkpoints)."""
        return cls(**{f.name: data[f.name] for f in fields(cls)})


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
    strict: bool = False,
    skip_batches: int = 0,
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[float, float, Delivery, float, float, int]:
    """One pass over ``batches``: loss, accuracy, delivery, seconds on data and compute, trained.

    Unusable objects are counted and skipped; with ``strict`` the first one stops the run. The
    first ``skip_batches`` batches (trained before a resume) are delivered but not trained on.
    ``on_step(batches_done, samples_trained)`` runs after every trained batch (checkpoints).
    """
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    delivery = Delivery()
    loss_sum = correct = 0.0
    trained = done = 0
    data_seconds = compute_seconds = 0.0
    iterator = iter(batches)
    with tqdm(total=total_batches, desc=description, unit="batch", disable=not progress, leave=False) as bar:
        while True:
            waited = time.perf_counter()
            try:
                images, labels, keys, workers, problems = next(iterator)
            except StopIteration:
                break
            started = time.perf_counter()
            data_seconds += started - waited
            delivery.add(keys, workers.tolist(), problems)
            if problems and strict:
                key, why = problems[0]
                raise DataError(
                    f"{key}: {why} (--strict stops at unusable data; without it such objects are skipped)"
                )
            bar.update(1)
            done += 1
            if done <= skip_batches or not len(labels):
                continue
            optimizer.zero_grad(set_to_none=True)
            logits = model(images)
            loss = loss_fn(logits, labels)
            loss.backward()
            optimizer.step()
            compute_seconds += time.perf_counter() - started
            loss_sum += loss.item() * len(labels)
            correct += (logits.argmax(1) == labels).sum().item()
            trained += len(labels)
            if on_step is not None:
                on_step(done, trained)
    n = max(trained, 1)
    return loss_sum / n, correct / n, delivery, data_seconds, compute_seconds, trained


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable) -> tuple[float, Delivery]:
    """Accuracy over ``batches`` and which keys they held."""
    model.eval()
    delivery = Delivery()
    correct = total = 0
    for images, labels, keys, workers, problems in batches:
        delivery.add(keys, workers.tolist(), problems)
        if len(labels):
            correct += (model(images).argmax(1) == labels).sum().item()
            total += len(labels)
    return correct / max(total, 1), delivery


def worker_counts(delivery: Delivery) -> dict[str, int]:
    """Samples per worker, keyed by worker id (``main`` without workers)."""
    return {_label_of_worker(w): n for w, n in sorted(delivery.per_worker.items())}
