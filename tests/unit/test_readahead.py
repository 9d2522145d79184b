"""read_ahead: input order whatever the completion order, bounded in flight, errors at their turn."""

from __future__ import annotations

import random
import threading
import time

import pytest

from trainer.readahead import read_ahead


class SlowFetch:
    """Fetches that finish in a random order (a random delay each) and count how many overlap."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.finished: list[str] = []

    def __call__(self, key: str) -> bytes:
        with self.lock:
            delay = self.rng.uniform(0, 0.004)
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(delay)
        with self.lock:
            self.running -= 1
            self.finished.append(key)
        return key.encode()


@pytest.mark.parametrize("depth", [1, 2, 8, 32])
def test_output_follows_the_input_not_the_completions(depth):
    keys = [f"k{i:03d}" for i in range(200)]
    fetch = SlowFetch(seed=depth)
    out = list(read_ahead(iter(keys), fetch, depth))
    assert out == [(k, k.encode()) for k in keys]
    assert fetch.most <= depth
    if depth > 2:
        # The test can fail: fetches really did complete out of order and overlap.
        assert fetch.finished != keys and fetch.most > 1


def test_a_failed_fetch_raises_at_its_turn():
    def fetch(key: str) -> bytes:
        if key == "k5":
            raise OSError("connection reset")
        return b"x"

    got = []
    with pytest.raises(OSError, match="connection reset"):
        for key, _ in read_ahead((f"k{i}" for i in range(20)), fetch, 8):
            got.append(key)
    assert got == [f"k{i}" for i in range(5)]


def test_leaving_early_stops_the_rest():
    fetched = []

    def fetch(key: int) -> bytes:
        fetched.append(key)
        return b""

    items = read_ahead(iter(range(10_000)), fetch, 4)
    assert [next(items)[0] for _ in range(3)] == [0, 1, 2]
    items.close()
    assert len(fetched) < 20, "no more than the window was fetched"
