"""What one pass over a DataLoader costs and gives: rate, peak memory, and how mixed its batches are.

Used by ``make bench`` for every loader. Memory is the resident set of this process and all of
its descendants (the DataLoader workers), sampled while the pass runs, read from ``/proc``; on a
system without ``/proc`` it is reported as 0.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True)
class Pass:
    """One pass: samples delivered, seconds, mean label entropy per batch (bits), peak RSS (MB)."""

    samples: int
    seconds: float
    entropy_bits: float
    peak_rss_mb: float


def label_entropy(labels) -> float:
    """Shannon entropy in bits of the labels of one batch (log2(10) = 3.32 for ten even classes)."""
    counts = Counter(int(x) for x in labels)
    total = sum(counts.values())
    return -sum(n / total * math.log2(n / total) for n in counts.values()) if total else 0.0


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(children)
            stack.extend(children)
    return found


def tree_rss_mb(pid: int | None = None) -> float:
    """Resident memory of ``pid`` (default: this process) and every descendant, in MB."""
    pid = pid or os.getpid()
    total = 0
    for member in [pid, *_descendants(pid)]:
        try:
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e6


class PeakRss:
    """Samples :func:`tree_rss_mb` every ``interval`` seconds in a thread; ``peak`` is the maximum."""

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss_mb())


def measure_pass(make_loader, max_samples: int | None = None) -> Pass:
    """One pass over ``make_loader()`` (stops after ``max_samples``): rate, label mixing, memory."""
    entropies: list[float] = []
    samples = 0
    with PeakRss() as memory:
        started = time.perf_counter()
        for batch in make_loader():
            samples += len(batch[2])
            if len(batch[1]):
                entropies.append(label_entropy(batch[1]))
            if max_samples and samples >= max_samples:
                break
        seconds = time.perf_counter() - started
    mean_entropy = sum(entropies) / len(entropies) if entropies else 0.0
    return Pass(samples, seconds, mean_entropy, memory.peak)
