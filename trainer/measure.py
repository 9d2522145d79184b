"""What one pass over a DataLoader costs and gives: rate, peak memory, CPU, and how mixed its batches are.

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
    """One pass: samples delivered, seconds, mean label entropy per batch (bits), peak RSS (MB), CPU.

    ``object_bytes`` are the bytes of the objects delivered (as read, before decoding),
    ``distinct`` the distinct keys among the samples (a pass that delivered every key once has
    ``distinct == samples``) and ``unusable`` the samples that did not decode.
    """

    samples: int
    seconds: float
    entropy_bits: float
    peak_rss_mb: float
    cpu: CpuSplit
    object_bytes: int = 0
    distinct: int = 0
    unusable: int = 0


def label_entropy(labels) -> float:
    """Shannon entropy in bits of the labels of one batch (log2(10) = 3.32 for ten even classes)."""
    counts = Counter(int(x) for x in labels)
    total = sum(counts.values())
    return -sum(n / total * math.log2(n / total) for n in counts.values()) if total else 0.0


def child_pids(pid: int) -> list[int]:
    """The child processes of ``pid``, whichever of its threads started them, from /proc.

    A thread that ends (or a process that exits) while they are read had none to give."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        children = child_pids(stack.pop())
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


@dataclass(frozen=True)
class CpuSplit:
    """Where the machine's CPU went during a pass: this process, its workers, everything else.

    ``others`` is the machine's busy time minus the process tree's: the object store's server
    when it runs here, and whatever else the machine is doing. Seconds of CPU; ``capacity`` is
    wall time x cores, so a share of 1.0 is every core busy.
    """

    main: float
    workers: float
    others: float
    capacity: float

    def shares(self) -> dict[str, float]:
        cap = self.capacity or 1.0
        busy = self.main + self.workers + self.others
        return {
            "main": self.main / cap,
            "workers": self.workers / cap,
            "others": self.others / cap,
            "idle": max(0.0, 1 - busy / cap),
        }

    def line(self) -> str:
        s = self.shares()
        return (
            f"CPU of {os.cpu_count()} cores: main {s['main']:.0%}, workers {s['workers']:.0%}, "
            f"server and others {s['others']:.0%}, idle {s['idle']:.0%}"
        )


TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (not idle, not waiting on I/O)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, IndexError, ValueError):
        return 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / TICKS


class TreeMonitor:
    """Samples a process tree every ``interval`` seconds in a thread: peak memory and CPU time.

    ``peak`` is the highest summed RSS (MB) of ``pid`` (default: this process) and its
    descendants; ``cpu`` splits the CPU time between the root, its descendants (DataLoader
    workers, sampled until they exit) and the rest of the machine.
    """

    def __init__(self, pid: int | None = None, interval: float = 0.05):
        self.pid = pid or os.getpid()
        self.interval = interval
        self.peak = 0.0
        self.cpu = CpuSplit(0.0, 0.0, 0.0, 0.0)
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-monitor", daemon=True)

    def _sample(self) -> None:
        self.peak = max(self.peak, tree_rss_mb(self.pid))
        for member in [self.pid, *_descendants(self.pid)]:
            used = cpu_seconds(member)
            if used:
                self._seen[member] = used

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeMonitor:
        self._started = (time.perf_counter(), machine_busy_seconds(), cpu_seconds(self.pid))
        self._before = {}  # descendants alive at the start: only their CPU from now on counts
        for member in _descendants(self.pid):
            self._before[member] = cpu_seconds(member)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        wall, busy, main = self._started
        main_used = self._seen.get(self.pid, main) - main
        workers = sum(v - self._before.get(p, 0.0) for p, v in self._seen.items() if p != self.pid)
        total = machine_busy_seconds() - busy
        capacity = (time.perf_counter() - wall) * (os.cpu_count() or 1)
        self.cpu = CpuSplit(main_used, workers, max(0.0, total - main_used - workers), capacity)


def measure_pass(make_loader, max_samples: int | None = None) -> Pass:
    """One pass over ``make_loader()``, a DataLoader of :class:`~trainer.sample.Batch` (stops after
    ``max_samples``): rate, label mixing, memory.
    """
    entropies: list[float] = []
    samples = object_bytes = unusable = 0
    keys: set[str] = set()
    with TreeMonitor() as monitor:
        started = time.perf_counter()
        for batch in make_loader():
            samples += len(batch.keys)
            keys.update(batch.keys)
            object_bytes += batch.nbytes
            unusable += len(batch.problems)
            if len(batch.labels):
                entropies.append(label_entropy(batch.labels))
            if max_samples and samples >= max_samples:
                break
        seconds = time.perf_counter() - started
    mean_entropy = sum(entropies) / len(entropies) if entropies else 0.0
    return Pass(samples, seconds, mean_entropy, monitor.peak, monitor.cpu, object_bytes, len(keys), unusable)
