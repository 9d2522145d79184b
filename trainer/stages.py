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
from dataclasses import dataclass
from multiprocessing import RawValue
from typing import Generic, Protocol, TypeVar

from torch.utils.data import IterableDataset

T = TypeVar("T")


@dataclass(frozen=True)
class LeftOut(Generic[T]):
    """What one epoch is dealt without: its samples trained before an elastic resume (object keys,
    shard member keys, or a map dataset's indices). The default leaves nothing out: epoch 0 is
    never dealt."""

    epoch: int = 0
    items: frozenset[T] = frozenset()

    def during(self, epoch: int) -> frozenset[T]:
        """The items left out of ``epoch``: all of them in their epoch, none in any other."""
        return self.items if epoch == self.epoch else frozenset()

    def apply(self, items: list[T], epoch: int) -> list[T]:
        """``items`` less those left out of ``epoch``, in order."""
        gone = self.during(epoch)
        return [item for item in items if item not in gone] if gone else items


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

    @property
    def can_leave_out(self) -> bool:
        """Whether this chain can deal an epoch without some of its samples (:meth:`leave_out`):
        the stage that orders the objects answers, the others ask their source."""
        return isinstance(self.source, Stage) and self.source.can_leave_out

    def leave_out(self, left_out: LeftOut[str]) -> None:
        """Deal ``left_out.epoch`` without ``left_out.items`` (trained before an elastic resume).

        The stage that orders the objects does it, the others hand it on; only a chain that
        :attr:`can_leave_out` is asked. Call it before the loader's first pass: DataLoader workers
        take their copies of the stages then.
        """
        if not self.can_leave_out:
            raise TypeError(f"{type(self).__name__} cannot deal an epoch without some of its samples")
        assert isinstance(self.source, Stage)
        self.source.leave_out(left_out)


class SameEveryEpoch(Stage):
    """A dataset whose order is the same every epoch (the connector's ``from_prefix``), as a stage."""

    def __init__(self, dataset: Iterable):
        super().__init__()
        self.dataset = dataset

    def __iter__(self) -> Iterator:
        return iter(self.dataset)
