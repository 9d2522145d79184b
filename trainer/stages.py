"""A loader is a chain of stages, and the epoch reaches every one of them by one path.

Each stage is an ``IterableDataset`` over its ``source`` (the stage before it, or nothing when it
is the first). ``set_epoch`` records the epoch and hands it on to the source, so the stage that
orders the objects (a permutation, a shuffle buffer) learns it however many stages sit on top.
A dataset of the connector's own, whose order does not depend on the epoch, joins a chain as
:class:`SameEveryEpoch`; a sampler learns the epoch by the same method.

The epoch lives in shared memory: DataLoader workers are kept across epochs
(``persistent_workers``), so their copies of the stages were made once, at the first epoch, and
read the epoch the main process set from there at the start of every pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from multiprocessing import RawValue
from typing import Protocol

from torch.utils.data import IterableDataset


class EpochAware(Protocol):
    """A dataset or sampler told the epoch before each pass over it."""

    def set_epoch(self, epoch: int) -> None: ...


class Stage(IterableDataset):
    """One stage of a loader: iterates ``source`` (``None`` for the first stage) and knows the epoch."""

    def __init__(self, source: EpochAware | None = None):
        self.source = source
        # Inherited by forked workers and passed to spawned ones as they start: one value for all.
        self.shared_epoch = RawValue("q", 0)

    @property
    def epoch(self) -> int:
        """The epoch the main process set last, as every worker sees it."""
        return self.shared_epoch.value

    def set_epoch(self, epoch: int) -> None:
        self.shared_epoch.value = epoch
        if self.source is not None:
            self.source.set_epoch(epoch)

    def leave_out(self, epoch: int, keys: frozenset[str]) -> bool:
        """Deal epoch ``epoch`` without ``keys`` (trained before an elastic resume); whether this
        chain can.

        The stage that orders the objects does it, the others hand it on. Call it before the
        loader's first pass: DataLoader workers take their copies of the stages then.
        """
        return self.source.leave_out(epoch, keys) if isinstance(self.source, Stage) else False


class SameEveryEpoch(Stage):
    """A dataset whose order is the same every epoch (the connector's ``from_prefix``), as a stage."""

    def __init__(self, dataset: Iterable):
        super().__init__()
        self.dataset = dataset

    def __iter__(self) -> Iterator:
        return iter(self.dataset)
