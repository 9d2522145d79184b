"""tests.forked: a trainer forked from the preloaded server says and exits as `python -m trainer`."""

from __future__ import annotations

import signal
import socket

import pytest

from tests.conftest import free_port, run_module
from tests.forked import run_forked, start_forked

ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "lab",
    "AWS_SECRET_ACCESS_KEY": "lab-secret",
}


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--epochs", "0"], ["--loader", "fast"], []],
    ids=["help", "bad value", "bad choice", "no server"],
)
def test_a_forked_run_says_and_exits_as_the_real_command(tmp_path, args):
    env = {**ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    real = run_module("trainer", args, env, tmp_path)
    forked = run_forked("trainer", args, env, tmp_path)
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)


def test_a_forked_run_can_be_killed_like_a_process(tmp_path):
    """A server that takes the connection and never answers holds the run's listing until the kill."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        env = {**ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{silent.getsockname()[1]}"}
        run = start_forked("trainer", [], env, tmp_path)
        assert run.poll() is None
        run.kill()
        assert run.wait(timeout=60) == -signal.SIGKILL
