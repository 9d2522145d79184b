"""Checkpoints on MinIO with the connector's ``S3Checkpoint``, and resuming from the latest one.

A checkpoint holds the model, the optimizer, the RNG, and the data position: the epoch and the
number of batches already trained in it. Every loader's order is a function of the seed, the
epoch and the worker count, so a resumed run replays the epoch's first batches without training
on them and continues with exactly the batches an uninterrupted run would have trained on.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

from labcore.clients import read_json
from labcore.errors import ConfigError, DataError
from labcore.settings import Settings

# What must not change between a run and its resumption: each one changes the sample order.
ORDER_KEYS = ("loader", "batch_size", "workers", "seed", "shuffle_buffer")


def run_prefix(run_id: str) -> str:
    return f"checkpoints/{run_id}/"


@dataclass
class Resumed:
    """Where a resumed run starts: epoch, batches done in it, samples trained in it so far."""

    epoch: int
    step: int
    trained: int
    reports: list[dict]


class Checkpointer:
    """Writes ``checkpoints/<run-id>/epoch-E-step-S.pt`` and then ``latest.json`` pointing at it.

    The pointer is written after the checkpoint, and an S3 upload is visible only once complete,
    so ``latest.json`` never names a partial checkpoint.
    """

    def __init__(self, settings: Settings, run_id: str, config: dict):
        from s3torchconnector import S3Checkpoint

        from trainer.datasets import connector_config

        self.settings = settings
        self.run_id = run_id
        self.config = config
        self.saved = 0
        self._checkpoint = S3Checkpoint(
            settings.aws_region, endpoint=settings.aws_endpoint_url, s3client_config=connector_config()
        )

    def _uri(self, key: str) -> str:
        return f"s3://{self.settings.bucket}/{key}"

    def save(self, model, optimizer, *, epoch: int, step: int, trained: int, reports: list[dict]) -> str:
        """Save the state at batch ``step`` of ``epoch`` (``step`` 0: the epoch has not started)."""
        import torch

        key = f"{run_prefix(self.run_id)}epoch-{epoch:03d}-step-{step:06d}.pt"
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": torch.get_rng_state(),
            "epoch": epoch,
            "step": step,
            "trained": trained,
            "reports": reports,
            "config": self.config,
        }
        with self._checkpoint.writer(self._uri(key)) as writer:
            torch.save(state, writer)
        pointer = {"key": key, "epoch": epoch, "step": step}
        with self._checkpoint.writer(self._uri(run_prefix(self.run_id) + "latest.json")) as writer:
            writer.write(json.dumps(pointer).encode())
        self.saved += 1
        return key

    def restore(self, client, model, optimizer) -> Resumed:
        """Load the latest checkpoint of this run into ``model`` and ``optimizer``."""
        import torch

        pointer_key = run_prefix(self.run_id) + "latest.json"
        pointer = read_json(client, self.settings.bucket, pointer_key)
        if pointer is None:
            raise ConfigError(
                f"nothing to resume: no s3://{self.settings.bucket}/{pointer_key}; start without --resume"
            )
        with self._checkpoint.reader(self._uri(pointer["key"])) as reader:
            state = torch.load(io.BytesIO(reader.read()), weights_only=True)
        changed = [k for k in ORDER_KEYS if state["config"].get(k) != self.config.get(k)]
        if changed:
            was = ", ".join(f"{k}={state['config'].get(k)}" for k in changed)
            raise ConfigError(
                f"run {self.run_id} was started with {was}; resume it with the same settings "
                "(they decide the sample order)"
            )
        if not isinstance(state.get("step"), int):
            raise DataError(f"checkpoint {pointer['key']} is not one of this trainer's")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        return Resumed(state["epoch"], state["step"], state["trained"], state["reports"])


def latest_run(client, settings: Settings) -> str | None:
    """The run whose ``latest.json`` was written last, for ``--resume`` without ``--run-id``."""
    newest = None
    for obj in client.list_objects(settings.bucket, prefix="checkpoints/", recursive=True):
        if obj.object_name.endswith("/latest.json") and (
            newest is None or obj.last_modified > newest.last_modified
        ):
            newest = obj
    return newest.object_name.split("/")[1] if newest else None
