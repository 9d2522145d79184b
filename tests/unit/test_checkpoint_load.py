"""Loading a checkpoint to resume: a dropped GET is asked again; another format is refused."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch
from s3torchconnector.s3reader.sequential import SequentialS3Reader
from s3torchconnectorclient import S3Exception

from labcore.errors import ConfigError
from labcore.settings import load_settings
from trainer import checkpoints, transient

KEY = "checkpoints/r/epoch-001-step-000003.pt"
SETTINGS = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "lab", "AWS_SECRET_ACCESS_KEY": "lab-secret"}  # fmt: skip


def loading(monkeypatch, state: dict, drops: int = 0) -> tuple[checkpoints.Checkpointer, list]:
    """A Checkpointer whose checkpoint is ``state``, behind GETs the first ``drops`` of which a
    node drops after 100 bytes (the connector's own reader, with our stream)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    body, gets = buffer.getvalue(), []

    def stream():
        gets.append(1)
        yield body[:100]
        if len(gets) <= drops:
            raise S3Exception("Client error: MetaRequestResult { response_status: 499 }")
        yield body[100:]

    class Store:
        def reader(self, uri):
            return contextlib.nullcontext(SequentialS3Reader("lab-data", KEY, lambda: None, stream))

    monkeypatch.setattr(checkpoints, "checkpoint_store", lambda settings: Store())
    monkeypatch.setattr(checkpoints, "read_json", lambda client, bucket, key: {"key": KEY})
    monkeypatch.setattr(transient.time, "sleep", lambda seconds: None)
    return checkpoints.Checkpointer(load_settings(environ=SETTINGS), "r", {"world_size": 1}), gets


def test_the_checkpoint_read_on_resume_is_asked_again(monkeypatch):
    state = {"step": 3, "config": {"world_size": 1}, "format": checkpoints.FORMAT}
    checkpointer, gets = loading(monkeypatch, state, drops=1)
    assert checkpointer.load(client=None)["step"] == 3
    assert len(gets) == 2


@pytest.mark.parametrize("written", [None, 1, checkpoints.FORMAT + 1])
def test_a_checkpoint_of_another_format_is_refused_in_one_line(monkeypatch, written):
    state = {"step": 3, "config": {"world_size": 1}}
    if written is not None:
        state["format"] = written
    checkpointer, _ = loading(monkeypatch, state)
    with pytest.raises(ConfigError) as caught:
        checkpointer.load(client=None)
    message = str(caught.value)
    assert f"checkpoint format {written or 1}; this one reads {checkpoints.FORMAT}" in message, message
    assert "start a new run" in message and "\n" not in message
