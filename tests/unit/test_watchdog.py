"""The lab's deadline on a wait for the store: a probe that names a cause ends a wait early."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from trainer.watchdog import Watchdog

    asked = []

    def diagnose():
        asked.append(1)
        return "MinIO has lost write quorum" if len(asked) >= {ready} else ""

    watchdog = Watchdog("http://127.0.0.1:9", "continue with --resume", diagnose=diagnose)
    watchdog.arm(60, "writing a checkpoint", probe={probe})
    time.sleep({sleep})
    watchdog.disarm()
    print("finished the wait", flush=True)
    """
)


def run(ready: int, probe: float, sleep: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.format(ready=ready, probe=probe, sleep=sleep)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_probe_that_names_a_cause_ends_a_long_wait_in_one_line():
    # The wait would sleep 30 s of its 60: ended by the second probe, it never finishes.
    result = run(ready=2, probe=0.5, sleep=30)
    assert result.returncode == 1 and "finished the wait" not in result.stdout, result
    assert result.stderr.strip() == "python -m trainer: error: MinIO has lost write quorum"


def test_a_wait_without_probes_or_causes_runs_its_course():
    result = run(ready=1, probe=0, sleep=2)
    assert result.returncode == 0 and "finished the wait" in result.stdout, result
    result = run(ready=10**6, probe=0.5, sleep=2)
    assert result.returncode == 0 and "finished the wait" in result.stdout, result
