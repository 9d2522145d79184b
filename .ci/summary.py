"""The closing table of `.ci/run`: each phase's time, then each test folder's (from pytest's JUnit XML).

Usage: python3 .ci/summary.py PHASES_TSV JUNIT_XML
PHASES_TSV holds "<seconds>\t<phase>" lines, in order. A test's time in the XML is its setup, call
and teardown together, so a folder's share includes the fixtures its tests started.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def folder_times(junit: Path) -> dict[str, tuple[float, int]]:
    """Seconds and test count per test folder (tests/unit, tests/integration, ...)."""
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for case in ET.parse(junit).iter("testcase"):
        parts = case.get("classname", "").split(".")
        folder = "/".join(parts[:2]) if len(parts) > 2 and parts[0] == "tests" else "tests"
        totals[folder][0] += float(case.get("time") or 0)
        totals[folder][1] += 1
    return {k: (v[0], int(v[1])) for k, v in sorted(totals.items(), key=lambda kv: -kv[1][0])}


def main(phases_tsv: str, junit_xml: str) -> None:
    rows = [line.split("\t", 1) for line in Path(phases_tsv).read_text().splitlines() if line.strip()]
    print("\n| phase | time |\n| --- | ---: |")
    for seconds, phase in rows:
        print(f"| {phase} | {minutes(float(seconds))} |")
    print(f"| **all** | **{minutes(sum(float(s) for s, _ in rows))}** |")
    junit = Path(junit_xml)
    if not junit.is_file():
        print("\n(no test report: make test stopped before pytest wrote one)")
        return
    # Workers run side by side, so these add up to more than the make test phase took.
    print("\n| test folder | tests | time (summed over workers) |\n| --- | ---: | ---: |")
    for folder, (seconds, count) in folder_times(junit).items():
        print(f"| {folder} | {count} | {minutes(seconds)} |")


if __name__ == "__main__":
    main(*sys.argv[1:3])
