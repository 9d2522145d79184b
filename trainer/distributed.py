"""Who am I (rank, world, worker), and the few collectives the trainer needs, in one place.

``python -m trainer`` is one process unless ``torchrun`` started it: torchrun sets ``RANK``,
``WORLD_SIZE`` and the rendezvous variables, and :func:`join_world` then joins the gloo process
group (CPU) with the lab's timeout, before any dataset is built, because the connector reads the
rank when a dataset is constructed.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from datetime import timedelta

from torch import distributed as dist
from torch.utils.data import get_worker_info

from labcore.errors import LabError, StoreError
from trainer.deadlines import Deadlines, deadlines
from trainer.rank_stop import RankFailed, world_size


@dataclass(frozen=True)
class Position:
    """Where this code runs: rank of world, DataLoader worker of workers (worker -1: main process)."""

    rank: int
    world: int
    worker: int
    workers: int


def position() -> Position:
    """This process's rank and world size (0 and 1 outside torch.distributed) and its worker."""
    rank, world = (dist.get_rank(), dist.get_world_size()) if _initialized() else (0, 1)
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (-1, 1)
    return Position(rank, world, worker, workers)


def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


class Echo(LabError):
    """An error rank 0 met and shared: every rank stops with it, only rank 0 prints it."""

    quiet = True

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class World:
    """The ranks of a torchrun job (one rank, no process group, outside torchrun)."""

    rank: int = 0
    size: int = 1
    timeout: int = 60
    hint: str = ""
    # (hostname, address) of every rank, to name the one that is lost.
    peers: list = field(default_factory=list)
    # A gloo group with the patient timeout (trainer.deadlines): where one rank may be busy far
    # longer than a step (a peer's first batch, rank 0's checkpoint). None: the default group.
    patient: object = None
    # Every wait's deadline, derived once from the settings (trainer.deadlines.settings_deadlines).
    deadlines: Deadlines = field(default_factory=lambda: deadlines(30, 60, distributed=False))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def _collective(self, call, *args):
        try:
            return call(*args)
        except RuntimeError as exc:
            raise self._failed(exc) from None

    def together(self, call, *args):
        """``call(*args)`` that runs collectives of its own (DDP's wrap, forward and backward).

        DDP all-reduces gradients inside ``backward()``: a rank that dies then surfaces there as
        gloo's raw error. Only transport errors become :class:`RankFailed`; a bug stays a bug.
        """
        try:
            return call(*args)
        except RuntimeError as exc:
            if not (self.distributed and _is_transport_error(exc)):
                raise
            raise self._failed(exc) from None

    def _failed(self, exc: BaseException) -> RankFailed:
        # gloo says "Connection closed by peer" at once when a rank dies, and times out after
        # ``timeout`` when one hangs: either way this rank cannot go on alone.
        reason = str(exc).strip().splitlines()[0][:200]
        return RankFailed(
            f"rank {self.rank}: lost contact with {self._lost(str(exc))} of {self.size} ({reason}); "
            f"see that rank's error{'; ' + self.hint if self.hint else ''}"
        )

    def _lost(self, error: str) -> str:
        """``rank N (on host, address)`` when gloo's error names the peer's address, else ``another rank``."""
        addresses = set(re.findall(r"(\d{1,3}(?:\.\d{1,3}){3})", error))
        mine = self.peers[self.rank] if self.peers else None
        lost = [
            (rank, host, address)
            for rank, (host, address) in enumerate(self.peers)
            if address in addresses and (host, address) != mine
        ]
        if not lost:
            return "another rank"
        ranks = " or ".join(str(rank) for rank, _, _ in lost)
        return f"rank {ranks} (on {lost[0][1]}, {lost[0][2]})"

    def sum(self, values: list, *, patient: bool = False) -> list[int]:
        """Element-wise sums of ``values`` (numbers or booleans) over every rank, on every rank.

        ``patient``: waiting as long as the patient group allows, not ``DIST_TIMEOUT``.
        """
        if not self.distributed:
            return [int(v) for v in values]
        import torch

        tensor = torch.tensor([int(v) for v in values], dtype=torch.long)
        self._collective(dist.all_reduce, tensor, dist.ReduceOp.SUM, self.patient if patient else None)
        return tensor.tolist()

    def wait_for_all(self) -> None:
        """Every rank here before any goes on, waiting as long as the patient group allows."""
        if self.distributed:
            self._collective(dist.barrier, self.patient)

    def everywhere(self, obj) -> list:
        """``obj`` of every rank, in rank order, on every rank."""
        if not self.distributed:
            return [obj]
        out: list = [None] * self.size
        self._collective(dist.all_gather_object, out, obj)
        return out

    def gather(self, obj) -> list | None:
        """``obj`` of every rank, in rank order, on rank 0 (``None`` on the others)."""
        if not self.distributed:
            return [obj]
        out: list | None = [None] * self.size if self.is_main else None
        self._collective(dist.gather_object, obj, out, 0)
        return out

    def broadcast(self, obj, *, patient: bool = False):
        """Rank 0's ``obj`` on every rank (``patient``: waiting as long as the patient group allows)."""
        if not self.distributed:
            return obj
        box = [obj]
        self._collective(dist.broadcast_object_list, box, 0, self.patient if patient else None)
        return box[0]

    def decide(self, fn):
        """``fn()`` run on rank 0 only, its result (or its one-line error) shared with every rank.

        The others wait patiently: rank 0 may be listing a large split or reading a checkpoint.
        """
        outcome = None
        if self.is_main:
            try:
                outcome = ("ok", fn())
            except LabError as exc:
                if not self.distributed:
                    raise
                outcome = ("error", (str(exc), exc.exit_code))
                self.broadcast(outcome, patient=True)
                raise
        outcome = self.broadcast(outcome, patient=True)
        if outcome[0] == "error":
            raise Echo(*outcome[1])
        return outcome[1]

    def close(self) -> None:
        if self.distributed and _initialized():
            dist.destroy_process_group()


def _is_transport_error(exc: BaseException) -> bool:
    """Whether ``exc`` is the process group failing (a peer gone or silent), not the model."""
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc)
    return any(mark in text for mark in ("gloo", "Connection reset", "Connection closed", "Timed out"))


def join_world(limits: Deadlines) -> World:
    """Join torchrun's process group (gloo) if torchrun started us; a one-rank :class:`World` if not.

    ``limits.collective`` bounds every collective; ``limits.patient`` is the timeout of a second
    group for the waits that :mod:`trainer.deadlines` allows to take longer. The world carries
    ``limits`` for every other wait of the run.
    """
    size = world_size()
    rank = int(os.environ.get("RANK", "0") or 0)
    timeout = int(limits.collective)
    if size <= 1:
        return World(0, 1, timeout, deadlines=limits)
    try:
        dist.init_process_group("gloo", timeout=timedelta(seconds=timeout))
    except (RuntimeError, ValueError) as exc:
        raise StoreError(
            f"rank {rank}: joining the {size}-rank process group failed ({str(exc).splitlines()[0]}); "
            "check torchrun's --rdzv-endpoint and, in containers, GLOO_SOCKET_IFNAME"
        ) from None
    world = World(dist.get_rank(), dist.get_world_size(), timeout, deadlines=limits)
    world.peers = [tuple(p) for p in world.everywhere(_whereabouts())]
    world.patient = dist.new_group(backend="gloo", timeout=timedelta(seconds=limits.patient))
    return world


def _whereabouts() -> tuple[str, str]:
    host = socket.gethostname()
    try:
        address = socket.gethostbyname(host)
    except OSError:
        address = ""
    return host, address
