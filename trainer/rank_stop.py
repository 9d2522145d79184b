"""How a rank stops: its one-line error under torchrun, and torchrun's SIGTERM.

Nothing here imports torch, so ``python -m trainer`` wraps its whole run in :func:`as_rank` and
still says a configuration mistake in one line before paying for torch's import (seconds of CPU).
"""

from __future__ import annotations

import os
import signal

from labcore.errors import ConfigError, LabError


class RankFailed(LabError):
    """Another rank failed or vanished; this one stops too. Its own line names the rank."""


# Set by the SIGTERM handler: why this rank stops, whatever error the stop surfaces as.
_stopped = ""


def world_size() -> int:
    """How many ranks torchrun started (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def stop_on_sigterm(world) -> None:
    """On SIGTERM (torchrun's way to stop the survivors when a rank fails) stop with one line.

    ``world`` is the run's :class:`trainer.distributed.World`; its ``hint`` is read when the
    signal comes. torchrun signals the DataLoader workers too, so their death may surface first
    as the DataLoader's own error; :func:`as_rank` reports the real cause.
    """

    def handler(signum, frame):
        global _stopped
        _stopped = f"rank {world.rank}: stopped by torchrun because another rank failed; {world.hint}"
        raise RankFailed(_stopped)

    signal.signal(signal.SIGTERM, handler)


def as_rank(main):
    """Run ``main``, making its one-line error right for a torchrun rank.

    A rank stopped by torchrun's SIGTERM says so, whatever error the stop surfaced as. Errors of
    rank > 0 name the rank; configuration errors, the same on every rank, are left to rank 0.
    """
    rank = os.environ.get("RANK", "0")
    try:
        try:
            return main()
        except Exception:
            if _stopped:
                raise RankFailed(_stopped) from None
            raise
    except LabError as exc:
        if world_size() > 1 and rank != "0" and not exc.quiet:
            if isinstance(exc, ConfigError):
                exc.quiet = True
            elif not str(exc).startswith("rank "):
                exc.args = (f"rank {rank}: {exc}",)
        raise
