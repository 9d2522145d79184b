"""Loading a checkpoint to resume: a dropped GET is asked again; another format is refused."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch
from s3torchconnector.s3reader.sequential import SequentialS3Reader
from s3torchconnectorclient import S3Exception

from labcore.errors import ConfigError, DataError
from labcore.settings import load_settings
from trainer import checkpoints, transient
from trainer.trained_set import Listing, encode

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
    monkeypatch.setattr(transient.time, "sleep", lambda seconds: None)
    return checkpoints.Checkpointer(load_settings(environ=SETTINGS), "r", {"world_size": 1}), gets


def test_the_checkpoint_read_on_resume_is_asked_again(monkeypatch):
    state = {"step": 3, "config": {"world_size": 1}, "format": checkpoints.FORMAT}
    checkpointer, gets = loading(monkeypatch, state, drops=1)
    assert checkpointer.load(KEY)["step"] == 3
    assert len(gets) == 2


@pytest.mark.parametrize("written", [None, 1, checkpoints.FORMAT + 1])
def test_a_checkpoint_of_another_format_is_refused_in_one_line(monkeypatch, written):
    state = {"step": 3, "config": {"world_size": 1}}
    if written is not None:
        state["format"] = written
    checkpointer, _ = loading(monkeypatch, state)
    with pytest.raises(ConfigError) as caught:
        checkpointer.load(KEY)
    message = str(caught.value)
    assert f"checkpoint format {written or 1}; this one reads {checkpoints.FORMAT}" in message, message
    assert "start a new run" in message and "\n" not in message


def saved_state(config: dict, step: int, trained_set: dict | None = None) -> dict:
    """A checkpoint of a one-layer model at ``step`` of epoch 2, as ``Checkpointer.save`` writes it."""
    model = torch.nn.Linear(2, 2)
    state = {
        "model": model.state_dict(),
        "optimizer": torch.optim.Adam(model.parameters()).state_dict(),
        "rng": [torch.get_rng_state(), torch.get_rng_state()],
        "epoch": 2, "step": step, "trained": 20, "reports": [],
        "config": config, "format": checkpoints.FORMAT,
    }  # fmt: skip
    if trained_set:
        state["trained_set"] = trained_set
    return state


def resumed_with(monkeypatch, saved: dict, now: dict, state: dict) -> checkpoints.Resumed:
    checkpointer, _ = loading(monkeypatch, {**state, "config": saved})
    checkpointer.config = now
    loaded = checkpointer.load(KEY)
    model = torch.nn.Linear(2, 2)
    return checkpoints.apply(loaded, model, torch.optim.Adam(model.parameters()), rank=2, listing=LISTING)


LISTING = Listing(f"mnist/train/{i % 10}/{i:05d}.png" for i in range(30))
DONE = frozenset(LISTING.keys[:20])
EARLIER = frozenset(LISTING.keys[:8])
RECORD = {"done": encode(LISTING.bits(DONE)), "left_out": encode(LISTING.bits(EARLIER))}
TWO_BY_TWO = {"loader": "s3iter", "world_size": 2, "workers": 2, "batch_size": 4}


def test_another_shape_deals_the_epochs_untrained_rest_from_step_0(monkeypatch):
    now = {**TWO_BY_TWO, "world_size": 3, "workers": 1}
    start = resumed_with(monkeypatch, TWO_BY_TWO, now, saved_state(TWO_BY_TWO, 5, RECORD))
    assert (start.epoch, start.step, start.trained) == (2, 0, 20)
    assert start.left_out == DONE and start.reshaped == "workers=2, world_size=2"


def test_the_same_shape_replays_the_dealing_it_was_checkpointed_in(monkeypatch):
    start = resumed_with(monkeypatch, TWO_BY_TWO, TWO_BY_TWO, saved_state(TWO_BY_TWO, 5, RECORD))
    assert (start.step, start.left_out, start.reshaped) == (5, EARLIER, "")


def test_another_shape_mid_epoch_without_a_record_is_refused_in_one_line(monkeypatch):
    prefix = {**TWO_BY_TWO, "loader": "s3prefix"}
    with pytest.raises(ConfigError) as caught:
        resumed_with(monkeypatch, prefix, {**prefix, "world_size": 1}, saved_state(prefix, 5))
    message = str(caught.value)
    assert (
        "stopped part way through epoch 2 with world_size=2, and loader s3prefix continues an epoch"
        in message
    )
    assert "(s3iter, map, manual and shards resume on any)" in message and "\n" not in message
    # At an epoch's end nothing is left out: any loader resumes on any shape.
    start = resumed_with(monkeypatch, prefix, {**prefix, "world_size": 1}, saved_state(prefix, 0))
    assert (start.step, start.left_out, start.reshaped) == (0, frozenset(), "world_size=2")


def test_what_is_not_the_shape_still_has_to_stay(monkeypatch):
    with pytest.raises(ConfigError, match=r"started with batch_size=4; resume it with the same settings"):
        resumed_with(
            monkeypatch, TWO_BY_TWO, {**TWO_BY_TWO, "batch_size": 8}, saved_state(TWO_BY_TWO, 5, RECORD)
        )


def test_a_damaged_record_is_one_line(monkeypatch):
    state = saved_state(TWO_BY_TWO, 5, {"done": "garbage!", "left_out": ""})
    with pytest.raises(DataError, match=r"^the checkpoint's record of trained samples is damaged"):
        resumed_with(monkeypatch, TWO_BY_TWO, {**TWO_BY_TWO, "workers": 3}, state)
