"""Which run a start begins or continues: run ids, where a run's checkpoints live, ``--overwrite``.

No torch here: ``python -m trainer`` names its run (or refuses the name) before torch is imported,
so such a mistake is one line without paying for torch's import.
"""

from __future__ import annotations

import io
import json
import secrets
import time

from labcore.clients import read_json
from labcore.errors import ConfigError, DataError
from labcore.settings import Settings


def run_prefix(run_id: str) -> str:
    """Where run ``run_id``'s checkpoints and ``latest.json`` live in the bucket."""
    return f"checkpoints/{run_id}/"


def choose_run_id(
    client, settings: Settings, run_id: str | None, resume: bool, overwrite: bool = False
) -> str:
    """The run to start (``run_id``, or time + random) or, with ``resume``, the one to continue.

    A run id that already has checkpoints or outputs is refused without ``resume`` (or
    ``overwrite``): reusing it by accident would mix two runs' checkpoints.
    """
    if resume and not run_id:
        run_id = latest_run(client, settings)
        if not run_id:
            raise ConfigError(f"nothing to resume: no checkpoints under s3://{settings.bucket}/checkpoints/")
    if run_id and not resume and not overwrite:
        for prefix in (run_prefix(run_id), f"runs/{run_id}/"):
            if next(iter(client.list_objects(settings.bucket, prefix=prefix)), None) is not None:
                raise ConfigError(
                    f"run {run_id} already exists (s3://{settings.bucket}/{prefix}): continue it with "
                    "--resume, choose another --run-id, or replace it with --overwrite"
                )
    return run_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def start_afresh(client, settings: Settings, run_id: str) -> None:
    """``--overwrite``: the run's ``latest.json`` says "started again, no checkpoint yet" first.

    The trainer's keys cannot delete the old run's checkpoints; they stay, named by no pointer,
    and are overwritten as the new run checkpoints. Until its first checkpoint a resume is refused
    instead of continuing the old run's weights.
    """
    pointer = {"key": None, "restarted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    body = json.dumps(pointer).encode()
    key = run_prefix(run_id) + "latest.json"
    client.put_object(settings.bucket, key, io.BytesIO(body), len(body), content_type="application/json")


def latest_run(client, settings: Settings) -> str | None:
    """The run whose ``latest.json`` was written last, for ``--resume`` without ``--run-id``."""
    newest = None
    for obj in client.list_objects(settings.bucket, prefix="checkpoints/", recursive=True):
        if obj.object_name.endswith("/latest.json") and (
            newest is None or obj.last_modified > newest.last_modified
        ):
            newest = obj
    return newest.object_name.split("/")[1] if newest else None


def checkpoint_to_resume(client, settings: Settings, run_id: str) -> str:
    """The key of run ``run_id``'s latest checkpoint, as its ``latest.json`` names it.

    A one-line error when there is nothing to resume (no pointer, or a run started again with
    ``--overwrite`` and not checkpointed since) or the pointer names no checkpoint of this run.
    """
    pointer_key = run_prefix(run_id) + "latest.json"
    pointer = read_json(client, settings.bucket, pointer_key)
    if pointer is None:
        raise ConfigError(
            f"nothing to resume: no s3://{settings.bucket}/{pointer_key}; start without --resume"
        )
    key = pointer.get("key")
    if key is None and "restarted" in pointer:
        raise ConfigError(
            f"run {run_id} was started again with --overwrite and has no checkpoint since "
            "(its old checkpoints belong to the run it replaced): start it again with --overwrite, "
            "or choose another --run-id"
        )
    if not isinstance(key, str) or not key.startswith(run_prefix(run_id)) or not key.endswith(".pt"):
        raise DataError(
            f"s3://{settings.bucket}/{pointer_key} does not name a checkpoint of run {run_id} (key {key!r}); "
            "start a new run"
        )
    return key
