"""The training loop, the same for every loader and world size, with the exactly-once check built in.

Ranks of a torchrun job step in lockstep: before every step they add up how many batches and
samples they hold, and the loop ends when no rank has a batch left. A rank that has run out
takes *padded* steps (a forward and backward that contribute zero gradient) so that DDP's
gradient all-reduce never waits for a rank that has stopped: unequal step counts cannot hang.
The loss is scaled by the step's global sample count, so a step's gradient is the mean over the
samples actually trained, whichever ranks held them; padded samples are never counted.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import nn
from tqdm import tqdm

from labcore.errors import DataError, StoreError
from trainer.checkpoints import Checkpointer, Resumed
from trainer.connector import connector_errors
from trainer.datasets import Loader
from trainer.deadlines import Deadlines
from trainer.delivery import Delivery
from trainer.distributed import World
from trainer.epoch_report import EpochReport
from trainer.measure import label_entropy
from trainer.planning import SplitPlan
from trainer.sample import Batch
from trainer.trained_set import Listing, ShardListing, encode
from trainer.watchdog import Watchdog

# A checkpoint PUT that takes more than this share of its deadline is said (a slow store shows
# before it ends a run).
SLOW_WRITE = 0.25
# How often a checkpoint PUT that is taking a while asks whether the store has lost write quorum
# (MinIO answers in milliseconds; other stores are not asked: ``Checkpointer.quorum_lost``).
PROBE_WRITES = 5.0


@dataclass
class EpochStats:
    """One rank's share of an epoch; gathered on rank 0 to make the world's report."""

    delivery: Delivery = field(default_factory=Delivery)
    loss_sum: float = 0.0
    correct: int = 0
    trained: int = 0
    steps: int = 0  # steps with a batch of this rank's (the rest were padded)
    # The wait for the epoch's first batch (starting the DataLoader workers, where they start, and
    # the first reads), apart from the wait for every later batch: only that one is the data's.
    startup_seconds: float = 0.0
    data_seconds: float = 0.0
    compute_seconds: float = 0.0
    entropy_sum: float = 0.0  # label entropy of each batch of this rank's, summed (bits)
    # [step, loss, accuracy, seconds into the epoch] of every step this rank trained a batch in.
    series: list = field(default_factory=list)
    last: tuple = (0.0, 0.0)  # the latest step's loss and accuracy on this rank's batch


@dataclass
class Training:
    """Everything :func:`fit` needs: the model (DDP-wrapped on several ranks), data, and where to save."""

    model: nn.Module
    module: nn.Module
    optimizer: torch.optim.Optimizer
    world: World
    train: Loader
    test: Loader
    train_plan: SplitPlan
    test_plan: SplitPlan
    epochs: int
    checkpointer: Checkpointer
    checkpoint_every: int
    strict: bool = False
    progress: bool = False
    failure_hint: str = ""
    endpoint: str = ""  # "MinIO at http://...": the store and its URL, for messages
    history: list[dict] = field(default_factory=list)  # finished epochs' reports, saved in checkpoints
    watchdog: Watchdog | None = None
    # The train split's listing when the loader can leave samples out: checkpoints then record
    # which samples of the epoch are trained (an elastic resume deals only the rest).
    listing: Listing | ShardListing | None = None

    @property
    def deadlines(self) -> Deadlines:
        """The run's deadlines, as the world was joined with them."""
        return self.world.deadlines

    def waiting(self, seconds: float, what: str, *, probe: float = 0.0):
        """A block that waits on the store, under the watchdog's deadline when there is one."""
        if self.watchdog is None:
            return contextlib.nullcontext(lambda: None)
        return self.watchdog.waiting(seconds, what, probe=probe)


def train_epoch(
    t: Training,
    epoch: int,
    *,
    skip_steps: int = 0,
    trained_before: int = 0,
    left_out: frozenset[str] = frozenset(),
) -> EpochStats:
    """One pass over this rank's batches in lockstep with the other ranks (see the module doc).

    Unusable objects are counted and skipped; with ``strict`` the first one stops the run. The
    first ``skip_steps`` steps (trained before a resume) are delivered but not trained on.
    ``left_out`` holds the samples this epoch's dealing leaves out (trained before an elastic
    resume): its checkpoints count them as trained.
    """
    t.model.train()
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    stats = EpochStats()
    iterator = iter(t.train.epoch(epoch))
    total = math.ceil(len(t.train_plan) / (t.train.options.batch_size * t.world.size))
    # Disabled from the start: a bar disabled after it is made has printed itself once already.
    bar = tqdm(
        total=total,
        desc=f"epoch {epoch}/{t.epochs}",
        unit="batch",
        leave=False,
        disable=not (t.progress and t.world.is_main),
    )
    step = 0
    epoch_started = time.perf_counter()
    with bar:
        while True:
            waited = time.perf_counter()
            first = step == 0
            deadline = t.deadlines.first_batch if first else t.deadlines.batch
            with t.waiting(deadline, f"waiting for data in epoch {epoch}"):
                batch = next(iterator, None)
            started = time.perf_counter()
            if first:
                stats.startup_seconds += started - waited
            else:
                stats.data_seconds += started - waited
            usable = 0
            if batch is not None:
                stats.delivery.add(batch.keys, batch.workers.tolist(), batch.problems)
                if batch.problems and t.strict:
                    key, why = batch.problems[0]
                    raise DataError(
                        f"{key}: {why} (--strict stops at unusable data; without it such objects are skipped)"
                    )
                usable = len(batch.labels)
                stats.steps += 1
                stats.entropy_sum += label_entropy(batch.labels)
            # The first step waits for every rank's first batch: patiently, as that batch may.
            holding, step_samples = t.world.sum([batch is not None, usable], patient=first)
            if not holding:
                break
            step += 1
            bar.update(1)
            if step <= skip_steps or (not step_samples) or (not usable and not t.world.distributed):
                continue
            t.world.together(_step, t, stats, loss_fn, batch if usable else None, step_samples)
            stats.compute_seconds += time.perf_counter() - started
            if usable:
                stats.series.append([step, *stats.last, round(time.perf_counter() - epoch_started, 3)])
            if t.checkpoint_every and step % t.checkpoint_every == 0:
                trained = trained_before + t.world.sum([stats.trained])[0]
                _checkpoint(t, epoch, step, trained, stats.delivery.keys, left_out)
    return stats


def _step(t: Training, stats: EpochStats, loss_fn, batch: Batch | None, step_samples: int) -> None:
    """One optimizer step on ``batch`` (``None``: a padded step) in lockstep with the other ranks."""
    t.optimizer.zero_grad(set_to_none=True)
    if batch is not None:
        labels = batch.labels
        logits = t.model(batch.images)
        loss = loss_fn(logits, labels)
    else:  # padded step: this rank has no sample, but DDP needs its (zero) gradient
        loss = t.model(torch.zeros(1, 1, 28, 28)).sum() * 0.0
    # DDP averages gradients over ranks; scaling by ranks/samples makes it the step's mean.
    (loss * (t.world.size / step_samples)).backward()
    t.optimizer.step()
    if batch is not None:
        correct = (logits.argmax(1) == labels).sum().item()
        stats.loss_sum += loss.item()
        stats.correct += correct
        stats.trained += len(labels)
        stats.last = (round(loss.item() / len(labels), 5), round(correct / len(labels), 4))


@torch.no_grad()
def evaluate(t: Training, batches: Iterable[Batch]) -> EpochStats:
    """This rank's correct answers over ``batches`` and which keys they held (no collectives)."""
    module = t.module
    module.eval()
    stats = EpochStats()
    iterator = iter(batches)
    while True:
        with t.waiting(
            t.deadlines.first_batch if not stats.delivery.keys else t.deadlines.batch, "evaluating"
        ):
            batch = next(iterator, None)
        if batch is None:
            break
        stats.delivery.add(batch.keys, batch.workers.tolist(), batch.problems)
        if len(batch.labels):
            stats.correct += (module(batch.images).argmax(1) == batch.labels).sum().item()
            stats.trained += len(batch.labels)
    return stats


def _checkpoint(
    t: Training,
    epoch: int,
    step: int,
    trained: int,
    delivered: Iterable[str] = (),
    left_out: frozenset[str] = frozenset(),
) -> None:
    """Every rank hands its RNG state (and the samples it has trained in the epoch) to rank 0,
    which writes the checkpoint; then all ranks meet.

    The other ranks wait for rank 0 at a barrier of the patient group, not at the next step's
    collective: a write slowed by a lost node may take far longer than ``DIST_TIMEOUT``.
    """
    mine = t.listing.bits(delivered) if t.listing is not None else b""
    gathered = t.world.gather((torch.get_rng_state(), mine))
    if t.world.is_main:
        rng = [g[0] for g in gathered]
        trained_set = None
        if t.listing is not None:
            before = t.listing.bits(left_out)
            done = t.listing.union([before, *(g[1] for g in gathered)])
            trained_set = {"done": encode(done), "left_out": encode(before)}
        # A deadline per PUT, and a longer one than for a batch: a write waits for quorum.
        seconds = t.deadlines.checkpoint_write
        starts: list[float] = []
        with t.waiting(seconds, "writing a checkpoint", probe=PROBE_WRITES) as restart:

            def each_write() -> None:
                starts.append(time.perf_counter())
                restart()

            t.checkpointer.save(
                t.module, t.optimizer, epoch=epoch, step=step, trained=trained, reports=t.history, rng=rng,
                trained_set=trained_set, each_write=each_write,
            )  # fmt: skip
        slowest = max(b - a for a, b in zip(starts, [*starts[1:], time.perf_counter()], strict=True))
        if slowest > seconds * SLOW_WRITE:
            print(
                f"checkpoint at epoch {epoch}, step {step}: one PUT took {slowest:.1f} s of the "
                f"{seconds:g} s it may take (CHECKPOINT_TIMEOUT); the store is slow to take writes",
                flush=True,
            )
    t.world.wait_for_all()


def weights_digest(module: nn.Module) -> str:
    """A short SHA-256 of every parameter's bytes: equal on every rank, or DDP went wrong."""
    digest = hashlib.sha256()
    for tensor in module.state_dict().values():
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def _report(
    t: Training,
    epoch: int,
    seconds: float,
    gathered: list,
    trained_before: int,
    left_out: frozenset[str] = frozenset(),
) -> EpochReport:
    """Rank 0's view of the world's epoch; ``DataError`` when a sample is missing or repeated.

    ``gathered`` holds each rank's ``(train stats, test stats, weights digest)``; ``left_out``
    the samples trained in this epoch before an elastic resume, which the check counts in.
    """
    train: list[EpochStats] = [g[0] for g in gathered]
    test: list[EpochStats] = [g[1] for g in gathered]
    digests: list[str] = [g[2] for g in gathered]
    world_train = Delivery.merge([s.delivery for s in train])
    world_test = Delivery.merge([s.delivery for s in test])
    trained = sum(s.trained for s in train)
    tested = sum(s.trained for s in test)
    weights = ""
    if t.world.distributed:
        if len(set(digests)) != 1:
            raise DataError(f"ranks ended epoch {epoch} with different weights ({', '.join(digests)})")
        weights = f"weights identical on {t.world.size} ranks (sha256 {digests[0]})"
    return EpochReport(
        epoch=epoch,
        loss=sum(s.loss_sum for s in train) / max(trained, 1),
        train_accuracy=sum(s.correct for s in train) / max(trained, 1),
        test_accuracy=sum(s.correct for s in test) / max(tested, 1),
        samples=world_train.samples,
        trained_samples=trained_before + trained,
        seconds=seconds,
        startup_seconds=train[0].startup_seconds,
        data_seconds=train[0].data_seconds,
        compute_seconds=train[0].compute_seconds,
        label_entropy_bits=sum(s.entropy_sum for s in train) / max(sum(s.steps for s in train), 1),
        samples_per_worker=dict(sorted(world_train.per_worker.items())),
        samples_per_rank=dict(world_train.per_rank),
        steps_per_rank={str(rank): s.steps for rank, s in enumerate(train)} if t.world.distributed else {},
        train_check=world_train.check(t.train_plan, "train", before=left_out),
        test_check=world_test.check(t.test_plan, "test"),
        spread=world_train.spread(),
        weights=weights,
        series=train[0].series,
    )


@contextlib.contextmanager
def _named_cause(t: Training):
    """A store failure during an epoch says "write quorum lost" when that is why (distributed MinIO)."""
    try:
        yield
    except StoreError:
        # MinIO takes a few seconds to notice lost nodes: ask a few times before giving up on it.
        for attempt in range(3):
            cause = t.checkpointer.quorum_lost()
            if cause:
                raise StoreError(cause) from None
            if attempt < 2:
                time.sleep(1)
        raise


def fit(t: Training, start: Resumed) -> list[EpochReport]:
    """Train from ``start`` to the last epoch; rank 0 prints each epoch and every rank checkpoints with it.

    Every epoch ends with the world's exactly-once check: a gap or a duplicate on any rank stops
    every rank with the same line.
    """
    reports = [EpochReport.from_dict(r) for r in start.reports]
    for epoch in range(start.epoch, t.epochs + 1):
        resumed = epoch == start.epoch
        skip, before = (start.step, start.trained) if resumed else (0, 0)
        left_out = start.left_out if resumed else frozenset()
        t.history = [r.as_dict() for r in reports]
        with (
            _named_cause(t),
            connector_errors(f"{t.endpoint} failed during epoch {epoch}", t.failure_hint),
        ):
            started = time.perf_counter()
            train = train_epoch(t, epoch, skip_steps=skip, trained_before=before, left_out=left_out)
            seconds = time.perf_counter() - started
            test = evaluate(t, t.test.epoch(epoch))
        gathered = t.world.gather((train, test, weights_digest(t.module)))
        report = t.world.decide(partial(_report, t, epoch, seconds, gathered, before, left_out))
        reports.append(report)
        if t.world.is_main:
            for line in report.lines(t.epochs):
                print(line, flush=True)
        # The end of an epoch is a checkpoint too: the next one starts at its step 0.
        t.history = [r.as_dict() for r in reports]
        with connector_errors(f"saving a checkpoint of epoch {epoch} failed", t.failure_hint):
            _checkpoint(t, epoch + 1, 0, 0)
    return reports
