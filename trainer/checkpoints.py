"""Checkpoints on MinIO with the connector's ``S3Checkpoint``, and resuming from the latest one.

A checkpoint holds the model, the optimizer, every rank's RNG state, and the data position: the
epoch and the number of steps already trained in it. Every loader's order is a function of the
seed, the epoch, the worker count and the world size, so a resumed run replays the epoch's first
batches without training on them and continues with exactly the batches an uninterrupted run
would have trained on. Only rank 0 writes; every rank reads the same checkpoint to resume.

For the loaders that can deal an epoch without some of its samples (``s3iter``, ``map``,
``manual``, ``shards``), a checkpoint also records which samples of the epoch are trained, as a bitmap over
the listing (:mod:`trainer.trained_set`): a run resumed on another number of ranks or workers
deals only the rest (an elastic resume), and the epoch's exactly-once check covers both runs.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from labcore.cli import root_message
from labcore.errors import ConfigError, DataError, StoreError
from labcore.settings import Settings
from labcore.stores import STORES
from trainer.connector import checkpoint_store
from trainer.run_ids import run_prefix
from trainer.trained_set import Listing, ShardListing, decode
from trainer.transient import read_object, write_object

# Requests that never go through a proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# Bumped when what a checkpoint holds changes meaning (2: the dataset fingerprint covers each
# shard's SHA-256; 3: the trained samples of the epoch, and a step counted in a dealing that may
# leave some out), so that an older checkpoint is refused in one line rather than misread.
FORMAT = 3

# What must not change between a run and its resumption: each one changes the sample order.
ORDER_KEYS = ("loader", "batch_size", "workers", "seed", "shuffle_buffer", "world_size", "order")
# Of those, what an elastic resume may change: the epoch's rest is dealt anew over the new shape.
SHAPE_KEYS = ("world_size", "workers")


@dataclass
class Resumed:
    """Where a resumed run starts: epoch, batches done in it, samples trained in it so far."""

    epoch: int
    step: int
    trained: int
    reports: list[dict]
    # The samples of ``epoch`` its dealing leaves out (trained before an elastic resume), and,
    # when the shape changed at this resume, what it was ("world_size=2, workers=2").
    left_out: frozenset[str] = frozenset()
    reshaped: str = ""


class Checkpointer:
    """Writes ``checkpoints/<run-id>/epoch-E-step-S.pt`` and then ``latest.json`` pointing at it.

    The pointer is written after the checkpoint, and an S3 upload is visible only once complete,
    so ``latest.json`` never names a partial checkpoint.
    """

    def __init__(self, settings: Settings, run_id: str, config: dict):
        self.settings = settings
        self.run_id = run_id
        self.config = config
        self.saved = 0
        self._checkpoint = checkpoint_store(settings)

    def _uri(self, key: str) -> str:
        return f"s3://{self.settings.bucket}/{key}"

    def quorum_lost(self) -> str:
        """Why no checkpoint can be written now ('' if nothing says so).

        A distributed MinIO answers ``/minio/health/cluster`` with 503 when too few drives are online
        for write quorum (5 of 8 here); reads may still work. Other S3 servers have no such
        endpoint: nothing to ask them. The question goes to the server directly, as the SDK's and
        the connector's requests do: an HTTP(S)_PROXY's own 503 says nothing about MinIO's drives.
        """
        if not STORES[self.settings.store].quorum_health:
            return ""
        url = f"{self.settings.aws_endpoint_url}/minio/health/cluster"
        try:
            _DIRECT.open(url, timeout=5).close()
        except urllib.error.HTTPError as exc:
            if exc.code == 503:
                return (
                    f"MinIO at {self.settings.aws_endpoint_url} has lost write quorum ({url} answers 503: too "
                    "few drives online), so no checkpoint can be written and reads may fail; bring the nodes "
                    f"back, then continue with --resume --run-id {self.run_id}"
                )
        except (urllib.error.URLError, OSError):
            pass  # unreachable: the write itself will say so, under the watchdog's deadline
        return ""

    def check_quorum(self) -> None:
        """``StoreError`` at once when MinIO cannot take writes, rather than a PUT that hangs."""
        problem = self.quorum_lost()
        if problem:
            raise StoreError(problem)

    def save(
        self,
        model,
        optimizer,
        *,
        epoch: int,
        step: int,
        trained: int,
        reports: list[dict],
        rng: list,
        trained_set: dict[str, str] | None = None,
        each_write: Callable[[], None] = lambda: None,
    ) -> str:
        """Save the state at batch ``step`` of ``epoch`` (``step`` 0: the epoch has not started).

        ``rng`` holds each rank's ``torch.get_rng_state()`` in rank order (ranks seed alike,
        but a rank with more samples draws more dropout, so the states part ways); ``trained`` counts the samples trained so far in
        the epoch by all ranks. ``trained_set`` (loaders that can leave samples out) holds the
        encoded bitmaps ``done`` (the epoch's trained samples) and ``left_out`` (those its dealing
        left out). ``each_write`` runs before each of the two PUTs (the trainer restarts its deadline there).
        """
        self.check_quorum()
        key = f"{run_prefix(self.run_id)}epoch-{epoch:03d}-step-{step:06d}.pt"
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng,
            "epoch": epoch,
            "step": step,
            "trained": trained,
            "reports": reports,
            "config": self.config,
            "format": FORMAT,
        }
        if trained_set:
            state["trained_set"] = trained_set
        each_write()
        write_object(self._checkpoint.writer, self._uri(key), serialized(state))
        pointer = {"key": key, "epoch": epoch, "step": step}
        latest = self._uri(run_prefix(self.run_id) + "latest.json")
        each_write()
        write_object(self._checkpoint.writer, latest, json.dumps(pointer).encode())
        self.saved += 1
        return key

    def load(self, key: str) -> dict:
        """The checkpoint at ``key`` (:func:`trainer.run_ids.checkpoint_to_resume` named it),
        checked against this run's order settings."""
        import torch

        with self._checkpoint.reader(self._uri(key)) as reader:
            data = read_object(reader)  # a node's dropped GET is asked again, as for samples
        try:
            state = torch.load(io.BytesIO(data), weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a file that is not its own
            raise DataError(
                f"s3://{self.settings.bucket}/{key} is not a checkpoint ({root_message(exc)})"
            ) from None
        if not isinstance(state, dict) or not isinstance(state.get("step"), int):
            raise DataError(f"s3://{self.settings.bucket}/{key} is not one of this trainer's checkpoints")
        if state.get("format", 1) != FORMAT:
            raise ConfigError(
                f"run {self.run_id} was checkpointed by another version of the lab (checkpoint format "
                f"{state.get('format', 1)}; this one reads {FORMAT}), so it cannot be resumed here: start a new "
                "run (another --run-id)"
            )
        # Checkpoints from before distributed training have no world_size: they were one rank.
        saved = {"world_size": 1, **state["config"]}
        changed = [k for k in ORDER_KEYS if saved.get(k) != self.config.get(k)]
        reshaped = [k for k in changed if k in SHAPE_KEYS]
        changed = [k for k in changed if k not in SHAPE_KEYS]
        if "order" in changed:
            raise ConfigError(
                f"run {self.run_id} was checkpointed by a version of the lab that ordered samples "
                "differently, so its remaining batches cannot be rebuilt: start a new run (another --run-id)"
            )
        if changed:
            was = ", ".join(f"{k}={saved.get(k)}" for k in changed)
            raise ConfigError(
                f"run {self.run_id} was started with {was}; resume it with the same settings "
                "(they decide the sample order)"
            )
        # Checkpoints from before the fingerprint have none: nothing to compare.
        if saved.get("data", self.config.get("data")) != self.config.get("data"):
            raise ConfigError(
                f"the dataset changed since run {self.run_id} was checkpointed (re-seeded or pruned), so "
                "its sample order no longer exists: start a new run (another --run-id)"
            )
        if reshaped:
            state["reshaped"] = ", ".join(f"{k}={saved.get(k)}" for k in reshaped)
            if state["step"] and "trained_set" not in state:
                raise ConfigError(
                    f"run {self.run_id} stopped part way through epoch {state['epoch']} with "
                    f"{state['reshaped']}, and loader {saved.get('loader')} continues an epoch only "
                    "with the ranks and workers that began it: resume with those (s3iter, map, "
                    "manual and shards resume on any)"
                )
        return state


def apply(
    state: dict, model, optimizer, rank: int = 0, listing: Listing | ShardListing | None = None
) -> Resumed:
    """Put a loaded checkpoint into ``model``, ``optimizer`` and this rank's RNG.

    ``listing`` (the train split's, for loaders that can leave samples out) reads the checkpoint's
    trained samples. Resumed on the same shape, the run replays the epoch's dealing (without what
    it left out) up to the checkpoint's step; on another shape (``reshaped``), it deals whatever
    of the epoch is not yet trained anew, from step 0.
    """
    import torch

    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    rng = state["rng"]
    # A rank the checkpointed world did not have starts from rank 0's state (ranks seed alike).
    torch.set_rng_state(rng[rank if rank < len(rng) else 0] if isinstance(rng, list) else rng)
    resumed = Resumed(state["epoch"], state["step"], state["trained"], state["reports"])
    record, reshaped = state.get("trained_set"), state.get("reshaped", "")
    if reshaped:
        resumed.step, resumed.reshaped = 0, reshaped
    if record and listing is not None:
        try:
            resumed.left_out = listing.keys_of(decode(record["done" if reshaped else "left_out"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"the checkpoint's record of trained samples is damaged ({exc})") from None
    return resumed


def serialized(state: dict) -> bytes:
    """``torch.save`` of ``state`` as bytes: a write can then be sent again whole (``trainer.transient``)."""
    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()
