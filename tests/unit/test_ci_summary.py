"""`.ci/run`'s closing table: phases in order with a total, then each test folder's count and time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.unit.test_a" name="t1" time="1.5"/>
<testcase classname="tests.integration.test_b" name="t2" time="100.0"/>
<testcase classname="tests.integration.test_c" name="t3" time="25.0"/>
<testcase classname="tests.e2e.test_d" name="t4" time="61.0"/>
</testsuite></testsuites>"""


def summary(tmp_path: Path, phases: str, junit: str | None) -> str:
    (tmp_path / "phases.tsv").write_text(phases)
    if junit is not None:
        (tmp_path / "junit.xml").write_text(junit)
    done = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "summary.py"), str(tmp_path / "phases.tsv"), str(tmp_path / "junit.xml")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def test_phases_in_order_with_their_total_then_folders_slowest_first(tmp_path):
    out = summary(tmp_path, "31\tDebian packages\n450\tImages\n1300\tmake test\n", JUNIT)

    lines = out.splitlines()
    assert lines.index("| Debian packages | 0:31 |") < lines.index("| Images | 7:30 |")
    assert "| **all** | **29:41** |" in lines
    folders = [line for line in lines if line.startswith("| tests/")]
    assert folders == [
        "| tests/integration | 2 | 2:05 |",
        "| tests/e2e | 1 | 1:01 |",
        "| tests/unit | 1 | 0:01 |",
    ]


def test_a_run_that_stopped_before_pytest_still_gets_its_phases(tmp_path):
    out = summary(tmp_path, "12\tDocker engine\n", None)

    assert "| Docker engine | 0:12 |" in out
    assert "no test report" in out
