"""Processes the tests fork from a server that has imported torch once, instead of starting afresh.

A fresh interpreter spends seconds of CPU importing torch, and as much again on ``torch._dynamo``
(every torch optimizer imports it), before its first line of work: about as much as the suite's
small runs spend training. On 2 cores, with a hundred such processes per run, that start is a
large share of CI. multiprocessing's "forkserver" starts one clean server per pytest worker (a
process of its own, not a fork of the worker with its threads and connections), which imports
:data:`PRELOAD` once; each process below is a fork of it.

What the tests check stays real: each run is a process of its own, with the test's argv,
environment, working directory, stdout, stderr and exit status, running the real
``trainer/__main__.py`` with real DataLoader workers; a kill kills a real trainer. torchrun
(``torch.distributed.run``) forks the same way, and the ranks it starts are its own processes,
``python -u -m trainer`` as under the ``torchrun`` command. The command line's own tests
(``tests/unit``) and the Compose tests run the real ``python -m trainer``.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import child_env

# What the server imports once: torch, what its optimizers import, torchrun and the trainer's modules.
PRELOAD = [
    "torch",
    "torch.distributed",
    "torch._dynamo",
    "torch.distributed.run",
    "trainer.cli",
    "trainer.session",
]


def _context():
    # Read when this worker's server starts (the first fork); every later fork comes from it.
    multiprocessing.set_forkserver_preload(PRELOAD)
    return multiprocessing.get_context("forkserver")


def start_ranks(rank_main, args: tuple, nprocs: int) -> None:
    """Run ``rank_main(rank, *args)`` in ``nprocs`` processes forked from the server and wait for
    them all, as ``torch.multiprocessing`` does with "spawn" (whose processes would each import
    torch again). A rank that fails fails the call."""
    from torch import multiprocessing as mp

    _context()
    mp.start_processes(rank_main, args=args, nprocs=nprocs, start_method="forkserver")


def _become(module: str, argv: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    """In the forked process: run as ``python -m MODULE ARGV`` would, then exit with its status."""
    import atexit
    import io
    import runpy
    import threading
    import traceback

    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for fd, path in ((1, out), (2, err)):
        os.dup2(os.open(path, os.O_WRONLY | os.O_APPEND), fd)
    # As with PYTHONUNBUFFERED=1: every write reaches the file at once, so a killed run leaves
    # all it printed.
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
    )
    # A fork of the server inherits its start method; `python -m` starts with Linux's default,
    # fork, with which the trainer's DataLoader workers fork from it rather than import torch again.
    multiprocessing.set_start_method("fork", force=True)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.path[0] = cwd  # what `python -m` puts first
    sys.argv = ["-m", *argv]  # run_module puts the module's path first, as `python -m` does
    code: object = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        code = stop.code
    except BaseException:  # noqa: BLE001 - the interpreter's own ending for an uncaught error
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    # The interpreter's own exit: wait for threads, then the atexit handlers.
    threading._shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class ForkedRun:
    """``python -m MODULE ARGS`` forked from the server: the parts of ``subprocess.Popen`` the
    tests use (``pid``, ``returncode``, ``poll``, ``wait``, ``send_signal``, ``kill``,
    ``communicate``), its output kept in files until it ends."""

    def __init__(self, module: str, args: list[str], env: dict[str, str], cwd: Path):
        self.args = ["python", "-m", module, *args]
        self._dir = tempfile.mkdtemp(prefix="forked-run-")
        self._out, self._err = (os.path.join(self._dir, name) for name in ("stdout", "stderr"))
        for path in (self._out, self._err):
            Path(path).touch()
        self._process = _context().Process(
            target=_become, args=(module, list(args), env, str(cwd), self._out, self._err)
        )
        self._process.start()
        self.pid = self._process.pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._process.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self.poll() is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        """Wait for the end (``TimeoutExpired`` after ``timeout``), then its stdout and stderr."""
        self.wait(timeout)
        try:
            return tuple(Path(path).read_text(errors="backslashreplace") for path in (self._out, self._err))
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)


def start_forked(module: str, args: list[str], env: dict[str, str], cwd: Path) -> ForkedRun:
    """:func:`tests.conftest.spawn`, forked: ``python -m MODULE ARGS`` in the background (to be
    killed), with exactly ``env`` (plus PATH, unbuffered output) in ``cwd``."""
    return ForkedRun(module, args, child_env(env), cwd)


def run_forked(
    module: str, args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess:
    """:func:`tests.conftest.run_module`, forked: ``python -m MODULE ARGS`` to its end with exactly
    ``env`` in ``cwd``; a run past ``timeout`` is killed and raises ``TimeoutExpired``."""
    run = start_forked(module, args, env, cwd)
    try:
        out, err = run.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        run.kill()
        run.wait()
        raise
    return subprocess.CompletedProcess(run.args, run.returncode, out, err)
