"""scripts/progress.sh: a long build says it is still going, then how long it took, and fails as
the command fails."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "progress.sh"


def run(command: str) -> subprocess.CompletedProcess:
    script = (
        f'log() {{ echo "[test] $*"; }}; . "{SCRIPT}"; PROGRESS_EVERY=1 with_progress "compiling" {command}'
    )
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)


def test_a_long_command_reports_progress_then_its_time():
    result = run("sleep 2.5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    so_far = [line for line in lines if re.fullmatch(r"\[test\] compiling: \d+ s so far", line)]
    assert len(so_far) >= 1, lines
    assert re.fullmatch(r"\[test\] compiling: done in [23] s", lines[-1]), lines


def test_a_failing_command_fails_with_its_status_and_says_no_done():
    result = run("sh -c 'exit 3'")
    assert result.returncode == 3
    assert "done in" not in result.stdout
