"""A deadline of the lab's own on waiting for the object store: the connector has none.

With MinIO paused (``docker pause``) or wedged, the CRT client keeps a request open until it gives
up on throughput, 96 s measured here, and with several ranks the others wait for that rank too. A
daemon thread watches the one call the training loop is blocked in (the next batch, a checkpoint
write) and, past its deadline, ends the process with one line saying what to do. A thread is the
only way out: the blocked call is in native code and cannot be interrupted from Python.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import time
from functools import partial


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
        # Set once the watchdog has taken the last word: the process ends in its line alone.
        self._ending = False
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
        """End the armed wait. If the watchdog has already begun to end the process, never return:
        the caller's next line (an error of its own) would be a second one."""
        with self._lock:
            self._deadline = None
            ending = self._ending
        if ending:
            threading.Event().wait()

    @contextlib.contextmanager
    def waiting(self, seconds: float, what: str, *, probe: float = 0.0):
        """Armed for the block's duration, however it ends: an error raised in the wait is the
        caller's to report, and a deadline left armed behind it would add a second line.

        Yields ``restart()``, which gives the wait its full deadline again (one per PUT of a
        checkpoint's several).
        """
        self.arm(seconds, what, probe=probe)
        try:
            yield partial(self.arm, seconds, what, probe=probe)
        finally:
            self.disarm()

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
                self._end(self.diagnose() if self.diagnose is not None else "", seconds, what, wait)
            elif probing and self.diagnose is not None:
                cause = self.diagnose()
                if cause:
                    self._end(cause, seconds, what, wait)

    def _end(self, cause: str, seconds: float, what: str, wait: int) -> None:
        # A diagnosis takes time: the wait may have ended meanwhile, and then it is not ours to end.
        with self._lock:
            if self._deadline is None or self._wait != wait:
                return
            self._ending = True
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
