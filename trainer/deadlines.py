"""Every deadline of the trainer, derived in one place from the settings.

The model (docs/failure-modes.md#deadlines), from the inside out:

- **a batch**: the next batch gets ``DATA_TIMEOUT`` from the watchdog, the first of an epoch
  ``FIRST_BATCH_SECONDS`` (workers start, list, fill their buffers);
- **a checkpoint PUT** (with its retries) gets ``checkpoint_write``: ``CHECKPOINT_TIMEOUT``
  (90 s), at least ``DATA_TIMEOUT``, as a write waits for quorum after a node is lost; so do the
  checkpoint's GET on resume and each of the run's three final outputs (model, metrics, report);
- **a step's collectives** (the per-step sum, DDP's all-reduce) wait ``DIST_TIMEOUT`` for the
  other ranks: that is how a dead or hung rank is noticed, so it stays short, and it must exceed
  ``DATA_TIMEOUT``, the longest a peer may wait for a later batch before it gives up itself;
- **the patient waits**, where one rank may legitimately be busy much longer than a step: the first
  step of an epoch (a peer's first batch) and the checkpoint barrier, where the other ranks wait
  while rank 0 asks about quorum and writes two PUTs. They use a process group of their own whose
  timeout, ``patient``, exceeds the longest of those, so a slow checkpoint never reads as a lost
  rank, while a dead rank is still noticed at once (gloo sees its connection close).

Each wait contains the ones it waits for, with ``MARGIN`` to spare.
"""

from __future__ import annotations

from dataclasses import dataclass

from labcore.errors import ConfigError

# The first batch of an epoch waits for DataLoader workers to start, list the prefix and fill
# their shuffle buffers (seconds to a minute on a laptop); later batches need only a few GETs.
FIRST_BATCH_SECONDS = 300
# A checkpoint PUT waits for write quorum: after a node of a multi-node MinIO vanishes, MinIO
# holds writes until it gives up on that node's drives (10-12 s per PUT alone, 20-60 s for the
# trainer's PUT among its own stalled GETs, measured with the 4-node cluster). Each PUT gets this
# long by default (CHECKPOINT_TIMEOUT), so losing a node does not end the run (docs/failure-modes.md).
CHECKPOINT_WRITE_SECONDS = 90
# The question to MinIO about write quorum before a checkpoint (trainer.checkpoints).
QUORUM_CHECK_SECONDS = 5
# What a containing wait allows beyond the waits it contains (scheduling, a gather of RNG states).
MARGIN = 30


@dataclass(frozen=True)
class Deadlines:
    """Seconds each wait may take (see the module doc for which contains which)."""

    batch: float
    first_batch: float
    checkpoint_write: float
    collective: float

    @property
    def checkpoint(self) -> float:
        """Rank 0's part of a checkpoint: the quorum question and two PUTs."""
        return QUORUM_CHECK_SECONDS + 2 * self.checkpoint_write

    @property
    def patient(self) -> float:
        """The timeout of the patient process group: longer than a peer's first batch or checkpoint."""
        return max(self.first_batch, self.checkpoint) + MARGIN


def deadlines(
    data_timeout: float,
    dist_timeout: float,
    *,
    distributed: bool,
    checkpoint_timeout: float = CHECKPOINT_WRITE_SECONDS,
) -> Deadlines:
    """The deadlines for ``DATA_TIMEOUT``, ``DIST_TIMEOUT`` and ``CHECKPOINT_TIMEOUT``; ``ConfigError``
    when, with several ranks, a collective would give up before a peer's own wait for data does."""
    if distributed and dist_timeout <= data_timeout:
        raise ConfigError(
            f"DIST_TIMEOUT={dist_timeout:g} must be longer than DATA_TIMEOUT={data_timeout:g}: a rank "
            "waiting that long for data would be taken for a lost one (e.g. DIST_TIMEOUT=60, DATA_TIMEOUT=30)"
        )
    return Deadlines(
        batch=data_timeout,
        first_batch=FIRST_BATCH_SECONDS,
        checkpoint_write=max(data_timeout, checkpoint_timeout),
        collective=dist_timeout,
    )


def settings_deadlines(settings, *, distributed: bool) -> Deadlines:
    """:func:`deadlines` for the trainer's ``Settings``."""
    return deadlines(
        settings.data_timeout,
        settings.dist_timeout,
        distributed=distributed,
        checkpoint_timeout=settings.checkpoint_timeout,
    )
