"""trainer.measure: label entropy per batch, and memory summed over a process and its children."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from trainer.measure import PeakRss, label_entropy, measure_pass, tree_rss_mb


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
    batches = [(None, [0, 1, 2, 3], ["a", "b", "c", "d"]), (None, [5, 5, 5, 5], ["e", "f", "g", "h"])]
    done = measure_pass(lambda: iter(batches))
    assert done.samples == 8
    assert done.entropy_bits == pytest.approx((2.0 + 0.0) / 2)
    assert done.peak_rss_mb > 10
    assert measure_pass(lambda: iter(batches), max_samples=4).samples == 4
    with PeakRss() as memory:
        pass
    assert memory.peak > 10
