"""World.together: DDP's own collectives fail as one line naming the lost rank, a bug stays a bug."""

from __future__ import annotations

import json

import pytest

from tests.conftest import free_port
from tests.forked import start_ranks
from tests.unit.dead_peer import step_after_peer_dies
from trainer.distributed import World


def test_a_peer_that_dies_during_backward_is_named_not_a_gloo_traceback(tmp_path):
    start_ranks(step_after_peer_dies, (2, free_port(), str(tmp_path)), 2)
    outcome = json.loads((tmp_path / "rank0.json").read_text())
    assert outcome["raised"] == "RankFailed", outcome
    assert outcome["message"].startswith("rank 0: lost contact with "), outcome
    assert outcome["message"].endswith("; see that rank's error; continue with --resume"), outcome
    assert "\n" not in outcome["message"]


def test_an_error_that_is_not_the_process_group_passes_through_unchanged():
    def broken():
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)")

    for world in (World(), World(rank=0, size=2)):
        with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
            world.together(broken)
