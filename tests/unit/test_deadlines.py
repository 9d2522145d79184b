"""trainer.deadlines: each wait contains the waits it may wait for."""

import pytest

from labcore.errors import ConfigError
from tests.conftest import assert_one_line_error, run_module
from trainer.deadlines import MARGIN, QUORUM_CHECK_SECONDS, deadlines


def test_the_patient_wait_outlasts_a_peers_first_batch_and_a_whole_checkpoint():
    limits = deadlines(30, 60, distributed=True)
    assert limits.checkpoint == QUORUM_CHECK_SECONDS + 2 * limits.checkpoint_write
    assert limits.patient >= limits.first_batch + MARGIN and limits.patient >= limits.checkpoint + MARGIN
    # A later batch gives up before the collective waiting for it does.
    assert limits.batch < limits.collective
    # A long DATA_TIMEOUT stretches each checkpoint PUT, and the patient wait with it.
    long = deadlines(400, 600, distributed=True)
    assert long.checkpoint_write == 400 and long.patient == QUORUM_CHECK_SECONDS + 800 + MARGIN


def test_a_collective_shorter_than_a_wait_for_data_is_refused_with_several_ranks():
    with pytest.raises(ConfigError, match="DIST_TIMEOUT=30 must be longer than DATA_TIMEOUT=30"):
        deadlines(30, 30, distributed=True)
    assert deadlines(30, 30, distributed=False).collective == 30  # one rank: no collective waits


def test_the_trainer_refuses_it_in_one_line_before_joining(tmp_path):
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "lab",
           "AWS_SECRET_ACCESS_KEY": "lab-secret", "WORLD_SIZE": "2", "RANK": "0",
           "DIST_TIMEOUT": "20", "DATA_TIMEOUT": "30"}  # fmt: skip
    result = run_module("trainer", [], env, tmp_path, timeout=60)
    assert_one_line_error(result, 2, r"DIST_TIMEOUT=20 must be longer than DATA_TIMEOUT=30")
