"""What one epoch did, as printed lines and as the run's metrics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class EpochReport:
    """One epoch of the whole world; printed by rank 0 and saved in the run's metrics."""

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
    spread: str = ""
    samples_per_rank: dict[str, int] = field(default_factory=dict)
    steps_per_rank: dict[str, int] = field(default_factory=dict)
    weights: str = ""
    # The wait for the first batch (worker start-up and first reads), not in data_seconds; 0 in
    # checkpoints written before it was measured apart.
    startup_seconds: float = 0.0
    # Mean Shannon entropy of the labels in a trained batch (bits; 3.32 = ten even classes).
    label_entropy_bits: float = 0.0
    # [step, loss, accuracy, seconds into the epoch] per trained step of rank 0's batches.
    series: list = field(default_factory=list)

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0

    def lines(self, epochs: int) -> list[str]:
        """The epoch's lines: accuracy, speed and spread, the exactly-once check (and, with ranks, weights)."""
        lines = [
            f"epoch {self.epoch}/{epochs}: loss {self.loss:.4f}, train accuracy {self.train_accuracy:.2%}, "
            f"test accuracy {self.test_accuracy:.2%}",
            f"epoch {self.epoch}/{epochs}: {self.samples_per_second:.0f} samples/s, {self.seconds:.1f} s "
            f"({self.startup_seconds:.1f} s to the first batch, {self.data_seconds:.1f} s waiting for data, "
            f"{self.compute_seconds:.1f} s computing), "
            f"{self.spread}",
            f"epoch {self.epoch}/{epochs}: {self.train_check}; {self.test_check}",
        ]
        if self.weights:
            steps = ", ".join(f"{r}: {n}" for r, n in self.steps_per_rank.items())
            lines.append(f"epoch {self.epoch}/{epochs}: steps per rank {{{steps}}}; {self.weights}")
        return lines

    def as_dict(self) -> dict:
        return {**asdict(self), "samples_per_second": self.samples_per_second}

    @classmethod
    def from_dict(cls, data: dict) -> EpochReport:
        """The inverse of :meth:`as_dict` (reports travel inside checkpoints)."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
