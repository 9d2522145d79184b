"""A deadline of the lab's own on waiting for the object store: the connector has none.

With MinIO paused (``docker pause``) or wedged, the CRT client keeps a request open until it gives
up on throughput, 96 s measured here, and with several ranks the others wait for that rank too. A
daemon thread watches the one call the training loop is blocked in (the next batch, a checkpoint
write) and, past its deadline, ends the process with one line saying what to do. A thread is the
only way out: the blocked call is in native code and cannot be interrupted from Python.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time


class Watchdog:
    """Ends the process with one line when an armed wait passes its deadline."""

    def __init__(self, endpoint: str, hint: str, prefix: str = "", diagnose=None):
        """``diagnose()`` may name the cause better when a wait runs late (MinIO's write quorum)."""
        self.endpoint, self.hint, self.prefix, self.diagnose = endpoint, hint, prefix, diagnose
        self._deadline: float | None = None
        self._seconds = 0.0
        self._what = ""
        self._probe = 0.0
        self._next_probe = 0.0
        self._wait = 0  # which wait is armed: a diagnosis is only acted on for the wait it was made in
        self._lock = threading.Lock()
        threading.Thread(target=self._watch, name="store-watchdog", daemon=True).start()

    def arm(self, seconds: float, what: str, *, probe: float = 0.0) -> None:
        """Start a wait of at most ``seconds`` for ``what`` (``waiting for data``).

        ``probe`` (seconds): ask ``diagnose`` that often during the wait and end it at once when
        it names a cause. A checkpoint PUT that starts just before MinIO notices lost nodes hangs
        until its deadline (90 s measured) although the cluster says within seconds that it has
        lost write quorum.
        """
        with self._lock:
            now = time.monotonic()
            self._deadline, self._seconds, self._what = now + seconds, seconds, what
            self._probe, self._next_probe = probe, now + probe
            self._wait += 1

    def disarm(self) -> None:
        with self._lock:
            self._deadline = None

    def _watch(self) -> None:
        while True:
            time.sleep(0.5)
            with self._lock:
                now = time.monotonic()
                armed = self._deadline is not None
                late = armed and now > self._deadline
                probing = armed and not late and self._probe > 0 and now >= self._next_probe
                if probing:
                    self._next_probe = now + self._probe
                seconds, what, wait = self._seconds, self._what, self._wait
            if late:
                self._end(self.diagnose() if self.diagnose is not None else "", seconds, what)
            elif probing and self.diagnose is not None:
                cause = self.diagnose()
                with self._lock:
                    still = self._deadline is not None and self._wait == wait
                if cause and still:
                    self._end(cause, seconds, what)

    def _end(self, cause: str, seconds: float, what: str) -> None:
        print(
            f"python -m trainer: error: {self.prefix}"
            + (
                cause
                or f"no answer from the object store at {self.endpoint} for {seconds:.0f} s while {what} "
                f"(paused, overloaded or unreachable?); {self.hint}"
            ),
            file=sys.stderr,
            flush=True,
        )
        # DataLoader workers stuck in the same wait would outlive us (holding our stdout and
        # stderr open): they are our children, so they go first.
        for child in multiprocessing.active_children():
            child.kill()
        os._exit(1)
