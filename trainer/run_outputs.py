"""What a finished run leaves under ``runs/<run-id>/``: ``model.pt``, ``metrics.json`` and ``report.png``.

Written by rank 0 after the last epoch, with the connector's ``S3Checkpoint`` writer (the same
client as the checkpoints, which go to ``checkpoints/<run-id>/`` instead); ``python -m
trainer.run_report`` copies the report and metrics back to a local folder.
"""

from __future__ import annotations

import json

from labcore.settings import Settings
from trainer.checkpoints import serialized
from trainer.connector import checkpoint_store
from trainer.transient import write_object


def run_uri(settings: Settings, run_id: str) -> str:
    """``s3://<bucket>/runs/<run-id>/``: where a run's outputs go."""
    return f"s3://{settings.bucket}/runs/{run_id}/"


def write_run_outputs(settings: Settings, run_id: str, model, metrics: dict) -> str:
    """Write the run's ``model.pt``, ``metrics.json`` and ``report.png``; their folder's URI."""
    from trainer.run_report import render

    base = run_uri(settings, run_id)
    store = checkpoint_store(settings)
    write_object(store.writer, base + "model.pt", serialized(model.state_dict()))
    write_object(store.writer, base + "metrics.json", json.dumps(metrics, indent=2).encode())
    write_object(store.writer, base + "report.png", render(metrics))
    return base
