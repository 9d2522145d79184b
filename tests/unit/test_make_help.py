"""`make help`: every described target once, in its group, and no line of 100 columns or more."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GROUPS = ["lab", "workshop", "cluster", "stores", "bench", "development"]


def test_make_help_lists_every_target_once_by_group_under_100_columns():
    described = re.findall(r"^([a-z0-9-]+):.*## ", (ROOT / "Makefile").read_text(), flags=re.M)
    result = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line[:-1] for line in lines if re.fullmatch(r"[a-z]+:", line)] == GROUPS
    listed = [m[1] for line in lines if (m := re.match(r"  make (\S+) ", line))]
    assert sorted(listed) == sorted(described)
    assert max(len(line) for line in lines) < 100
