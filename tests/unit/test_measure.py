"""trainer.measure: label entropy per batch, and memory summed over a process and its children."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from trainer.measure import TreeMonitor, label_entropy, measure_pass, tree_rss_mb
from trainer.sample import Batch
from trainer.transforms import collate_samples, decode_sample


def test_label_entropy():
    assert label_entropy([3] * 64) == 0.0
    assert label_entropy([0, 1] * 32) == pytest.approx(1.0)
    assert label_entropy(list(range(10)) * 6) == pytest.approx(math.log2(10))
    assert label_entropy([]) == 0.0


def test_children_count_towards_memory():
    alone = tree_rss_mb()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; data = b'x' * 200_000_000; print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        assert tree_rss_mb() > alone + 150
    finally:
        child.communicate("", timeout=30)


def test_a_pass_reports_samples_mixing_and_peak():
    batches = [
        Batch(None, [0, 1, 2, 3], ["a", "b", "c", "d"], None, []),
        Batch(None, [5, 5, 5, 5], ["e", "f", "g", "h"], None, []),
    ]
    done = measure_pass(lambda: iter(batches))
    assert done.samples == 8
    assert done.entropy_bits == pytest.approx((2.0 + 0.0) / 2)
    assert done.peak_rss_mb > 10
    assert measure_pass(lambda: iter(batches), max_samples=4).samples == 4
    with TreeMonitor() as monitor:
        pass
    assert monitor.peak > 10


def test_cpu_of_workers_is_counted_after_they_exit():
    """A child that burns CPU and exits inside the window still shows up as the workers' CPU."""
    with TreeMonitor(interval=0.02) as monitor:
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass",
            ],
            check=True,
        )
    assert monitor.cpu.workers >= 0.3, monitor.cpu
    shares = monitor.cpu.shares()
    assert 0 <= shares["idle"] <= 1 and shares["workers"] > 0
    assert "workers" in monitor.cpu.line()


def test_a_pass_counts_object_bytes_and_distinct_keys():
    samples = [decode_sample(f"s/train/1/{i:05d}.bin", bytes(100 + i)) for i in range(6)]
    batches = [collate_samples(samples[:4]), collate_samples(samples[4:] + samples[:1])]
    done = measure_pass(lambda: iter(batches))
    assert (done.samples, done.distinct, done.object_bytes) == (7, 6, sum(100 + i for i in range(6)) + 100)
    assert done.unusable == 0
    broken = decode_sample("s/train/1/00009.png", b"not a png")
    assert measure_pass(lambda: iter([collate_samples([samples[0], broken])])).unusable == 1
