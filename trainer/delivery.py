"""The exactly-once check: which samples an epoch delivered, against what the plan listed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from labcore.errors import DataError
from labcore.shards import shard_of
from trainer.planning import SplitPlan


def worker_label(worker: int) -> str:
    """``main`` for the main process (``num_workers=0``), else the DataLoader worker id."""
    return "main" if worker < 0 else str(worker)


@dataclass
class Delivery:
    """Which sample keys a pass over a split delivered, and from which rank and worker."""

    keys: Counter = field(default_factory=Counter)
    per_worker: Counter = field(default_factory=Counter)
    per_rank: Counter = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)

    def add(
        self, keys: Iterable[str], workers: Iterable[int], problems: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.keys.update(keys)
        self.per_worker.update(worker_label(int(w)) for w in workers)
        self.problems.extend(problems)

    @property
    def samples(self) -> int:
        return sum(self.keys.values())

    @classmethod
    def merge(cls, by_rank: Sequence[Delivery]) -> Delivery:
        """One delivery for the whole world; workers become ``<rank>/<worker>`` when there are ranks."""
        if len(by_rank) == 1:
            return by_rank[0]
        world = cls()
        for rank, part in enumerate(by_rank):
            world.keys.update(part.keys)
            world.per_worker.update({f"{rank}/{w}": n for w, n in part.per_worker.items()})
            world.per_rank[str(rank)] = part.samples
            world.problems.extend(part.problems)
        return world

    def check(self, plan: SplitPlan, what: str, *, before: frozenset[str] = frozenset()) -> str:
        """The exactly-once line; ``DataError`` when any sample is missing, extra or repeated.

        ``before`` holds samples of the same epoch trained before an elastic resume: they count
        as delivered once, and delivering one of them again is a duplicate.
        """
        seen = self.keys
        delivered = seen.keys() | before
        repeated = sum(seen.values()) - len(seen) + len(before & seen.keys())
        if plan.sharded:
            missing, unexpected = _shard_gaps(delivered, plan.shards)
        else:
            missing = sorted(plan.keys - delivered)
            unexpected = sorted(delivered - plan.keys)
        arrived = len(delivered) - len(unexpected)
        line = f"{what}: {arrived} of {len(plan)} {plan.noun}, {repeated} duplicates"
        if missing or unexpected or repeated:
            again = sorted(k for k, n in seen.items() if n > 1 or k in before)
            example = missing[:1] or unexpected[:1] or again[:1]
            raise DataError(
                f"exactly-once check failed: {line}, {len(missing)} missing, {len(unexpected)} unexpected "
                f"(e.g. {example[0]})"
            )
        if self.problems:
            key, why = sorted(self.problems)[0]
            line += f", {len(self.problems)} skipped as unusable (e.g. {key}: {why})"
        if before:
            line += f" ({len(before)} of them trained before the resume, on another world)"
        return line

    def spread(self) -> str:
        """``samples per worker {...}``, with ``samples per rank {...}`` first for a distributed run."""
        workers = ", ".join(f"{w}: {n}" for w, n in sorted(self.per_worker.items()))
        if not self.per_rank:
            return f"samples per worker {{{workers}}}"
        ranks = ", ".join(f"{r}: {n}" for r, n in sorted(self.per_rank.items(), key=lambda i: int(i[0])))
        return f"samples per rank {{{ranks}}}, per rank/worker {{{workers}}}"


def _shard_gaps(seen: Iterable[str], shards: dict[str, int]) -> tuple[list[str], list[str]]:
    """Missing and unexpected samples of a shard plan, which knows each shard's sample count.

    A shard's members are named by the data, so a gap is counted (``<shard>: N of M members``);
    a member of an unplanned shard, or beyond a shard's count, is unexpected.
    """
    members: dict[str, list[str]] = {}
    unexpected = []
    for key in seen:
        shard = shard_of(key)
        if shard in shards:
            members.setdefault(shard, []).append(key)
        else:
            unexpected.append(key)
    missing = []
    for shard, count in sorted(shards.items()):
        got = sorted(members.get(shard, []))
        if len(got) < count:
            missing.extend(f"{shard}: {len(got)} of {count} members" for _ in range(count - len(got)))
        unexpected.extend(got[count:])
    return missing, sorted(unexpected)
