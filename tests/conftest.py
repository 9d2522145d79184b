"""Fixtures shared by every kind of test: small MNIST-style IDX datasets written on the fly."""

from __future__ import annotations

import gzip
import random
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

from labcore.sources import SPLIT_FILES


def idx_bytes(shape: tuple[int, ...], data: bytes) -> bytes:
    """The bytes of an unsigned-byte IDX file."""
    return struct.pack(">HBB", 0, 0x08, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + data


def write_dataset(
    directory: Path,
    counts: dict[str, int],
    *,
    rows: int = 28,
    cols: int = 28,
    gz: bool = True,
    seed: int = 0,
    learnable: bool = False,
) -> dict[str, list[tuple[int, bytes]]]:
    """Write random images and labels as MNIST-named IDX files; return the samples per split.

    ``learnable`` draws a bright square whose position gives the label, so a model can learn it.
    """
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    samples: dict[str, list[tuple[int, bytes]]] = {}

    def image(label: int) -> bytes:
        pixels = bytearray(rng.randbytes(rows * cols))
        if learnable:
            pixels = bytearray(b // 4 for b in pixels)
            top, left = (label // 5) * 14 + 3, (label % 5) * 5 + 1
            for r in range(top, top + 8):
                for c in range(left, left + 4):
                    pixels[r * cols + c] = 255
        return bytes(pixels)

    for split, count in counts.items():
        labels = [rng.randrange(10) for _ in range(count)]
        items = [(label, image(label)) for label in labels]
        samples[split] = items
        image_base, label_base = SPLIT_FILES[split]
        files = {
            image_base: idx_bytes((count, rows, cols), b"".join(p for _, p in items)),
            label_base: idx_bytes((count,), bytes(label for label, _ in items)),
        }
        for base, content in files.items():
            if gz:
                (directory / f"{base}.gz").write_bytes(gzip.compress(content, mtime=0))
            else:
                (directory / base).write_bytes(content)
    return samples


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., tuple[Path, dict[str, list[tuple[int, bytes]]]]]:
    """Factory: ``make_dataset({"train": 37, "test": 11})`` -> (directory, samples)."""

    def factory(counts: dict[str, int], **kwargs: object) -> tuple[Path, dict[str, list[tuple[int, bytes]]]]:
        directory = tmp_path / f"idx-{len(list(tmp_path.iterdir()))}"
        return directory, write_dataset(directory, counts, **kwargs)  # type: ignore[arg-type]

    return factory


def offline_source() -> Path:
    """The IDX files the tests seed from, as a user names them: SOURCE_DIR (LAB_OFFLINE_SOURCE is
    its old name), else Debian's dataset-fashion-mnist. The test fails in one line without them."""
    import os

    path = Path(
        os.environ.get("SOURCE_DIR")
        or os.environ.get("LAB_OFFLINE_SOURCE")
        or "/usr/share/datasets/fashion-mnist"
    )
    if not any((path / f"train-labels-idx1-ubyte{ext}").exists() for ext in (".gz", "")):
        pytest.fail(
            f"no IDX files at {path}: apt-get install dataset-fashion-mnist, or set SOURCE_DIR to a folder "
            "of MNIST-style IDX files (the four *-ubyte.gz files)",
            pytrace=False,
        )
    return path


def free_port() -> int:
    """A loopback port nothing listens on now (bound once by the OS, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(env: dict[str, str]) -> dict[str, str]:
    """The whole environment of a process a test starts: exactly ``env``, plus the caller's PATH
    (to find docker, make, git) and unbuffered output (a killed process keeps what it printed)."""
    import os

    return {"PATH": os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1", **env}


def run_module(module: str, args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300):
    """Run ``python -m module`` with exactly ``env`` (plus PATH) in ``cwd``; no .env is read."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=child_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(result, code: int, pattern: str) -> None:
    """The process failed with ``code`` and said why in one line, with no traceback."""
    import re

    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert re.search(pattern, lines[0]), lines[0]


def wait_for(condition, timeout: float, what: str):
    """Poll ``condition`` until it returns something truthy, at most ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def kill_when(process, condition, timeout: float, what: str) -> None:
    """Wait until ``condition`` holds (at most ``timeout`` seconds), then SIGKILL ``process``.

    The process is killed and reaped even when the wait times out, so no test leaves one behind;
    it must still have been running when it was killed.
    """
    import signal

    try:
        wait_for(condition, timeout, what)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, f"ended by itself ({process.returncode}) before {what}"


def spawn(module: str, args: list[str], env: dict[str, str], cwd: Path):
    """Start ``python -m module`` in the background (to be killed), like :func:`run_module`."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=child_env(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def join_loopback_group(rank: int, world: int, port: int, timeout: float) -> None:
    """Join a ``world``-rank gloo group on 127.0.0.1:``port`` (ranks the tests start, :func:`tests.forked.start_ranks`)."""
    from datetime import timedelta

    from torch import distributed as dist

    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=timeout),
    )


# `make test` runs on several pytest-xdist workers (--dist loadscope, with the scheduler below): a
# group runs on one worker, start to end. Each test module is a group of its own, so that a
# module-scoped fixture is built once, except where modules share more than that:
SHARED_GROUPS = {
    # The cluster is a Compose project of its own (its own fixture), so it runs beside the rest.
    "tests/e2e/test_cluster.py": "tests/e2e/test_cluster.py",
    # One `lab` for the other Compose tests (the first match wins).
    "tests/e2e/": "compose",
    # One server per store, started once for the session.
    "tests/conformance/": "conformance",
}
# The longest groups go first (.ci/run's closing table gives each test's time), so that no worker
# starts one of them when the others are nearly done.
LONGEST_FIRST = (
    "compose",
    "tests/integration/test_distributed.py",
    "tests/e2e/test_cluster.py",
    "tests/integration/test_faults.py",
    "tests/integration/test_resume.py",
    "conformance",
    "tests/integration/test_notebooks.py",
)


def worker_group(nodeid: str) -> str:
    """The group a test runs in on the workers: its module, or the shared group of its folder."""
    path = nodeid.split("::", 1)[0]
    return next((group for prefix, group in SHARED_GROUPS.items() if path.startswith(prefix)), path)


class ModuleGroups(LoadScopeScheduling):
    """xdist's loadscope by module, with the modules of a shared group on one worker.

    (xdist's own loadgroup marks tests by rewriting node IDs, which pytest 9.2 no longer allows.)
    """

    def _split_scope(self, nodeid: str) -> str:
        return worker_group(nodeid)


def pytest_xdist_make_scheduler(config: pytest.Config, log) -> LoadScopeScheduling | None:
    return ModuleGroups(config, log) if config.getvalue("dist") == "loadscope" else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(worker_group(item.nodeid), len(rank)))
