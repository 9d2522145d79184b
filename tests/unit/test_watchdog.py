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


LATE_DIAGNOSIS = textwrap.dedent(
    """
    import threading, time
    from trainer.watchdog import Watchdog

    asked, answered = threading.Event(), threading.Event()

    def diagnose():
        asked.set()
        answered.wait()
        return ""

    watchdog = Watchdog("http://127.0.0.1:9", "continue with --resume", diagnose=diagnose)
    watchdog.arm(0.2, "waiting for data")
    assert asked.wait(30), "the watchdog never found the wait late"
    watchdog.disarm()  # the data came while the watchdog was asking why it had not
    answered.set()
    time.sleep(1)  # two of the watchdog's looks: long enough for a line it should not print
    print("finished the wait", flush=True)
    """
)

ERROR_IN_A_WAIT = textwrap.dedent(
    """
    import sys, time, types
    from torch import nn
    from labcore.errors import StoreError
    from trainer.loop import Training, evaluate
    from trainer.watchdog import Watchdog

    class Refused:
        def __iter__(self):
            return self

        def __next__(self):
            raise StoreError("MinIO at http://127.0.0.1:9 failed: connection refused")

    t = types.SimpleNamespace(
        module=nn.Identity(),
        deadlines=types.SimpleNamespace(first_batch=0.2, batch=0.2),
        watchdog=Watchdog("http://127.0.0.1:9", "continue with --resume"),
    )
    t.waiting = types.MethodType(Training.waiting, t)
    try:
        evaluate(t, Refused())
    except StoreError as e:
        # What the loop does before its own line: asks MinIO about quorum for a few seconds.
        time.sleep(1.5)
        print(f"python -m trainer: error: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    """
)


def test_a_wait_that_ends_while_the_watchdog_diagnoses_it_is_not_ended():
    result = subprocess.run(
        [sys.executable, "-c", LATE_DIAGNOSIS], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "finished the wait" in result.stdout, result
    assert result.stderr == ""


def test_an_error_in_a_wait_is_the_only_line_the_run_ends_with():
    # Seen in CI: MinIO refused a connection within the data deadline, and the deadline then
    # passed while the loop asked about quorum; the run ended in two lines, the watchdog's second.
    result = subprocess.run(
        [sys.executable, "-c", ERROR_IN_A_WAIT], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result
    assert result.stderr.strip().splitlines() == [
        "python -m trainer: error: MinIO at http://127.0.0.1:9 failed: connection refused"
    ]
