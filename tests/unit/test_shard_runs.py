"""How the seeder cuts a split into shards: by samples, and by bytes (issue 23)."""

from __future__ import annotations

from labcore.synthetic import SyntheticSpec, SyntheticSplit
from seeder.upload import _per_shard, _shards_of


class Sized:
    """A split whose sample ``i`` is ``sizes[i]`` bytes."""

    extension, content_type, object_size = "bin", "application/octet-stream", None
    name = "train"

    def __init__(self, sizes: list[int]):
        self.sizes = sizes

    def __len__(self) -> int:
        return len(self.sizes)

    def label(self, index: int) -> int:
        return index % 3

    def encoded(self, index: int) -> tuple[int, bytes]:
        return self.label(index), bytes(self.sizes[index])


def runs(split, count: int, shard_size: int, shard_bytes: int) -> list[list[int]]:
    return [[index for index, _, _ in run] for run in _shards_of(split, count, shard_size, shard_bytes)]


def test_a_shard_closes_at_its_sample_count_or_before_it_passes_its_bytes():
    # In a tar: 100 B -> 1024, 600 B -> 1536, 2000 B -> 2560, 50 B -> 1024 (header and padding).
    split = Sized([100, 600, 2000, 50, 50])
    assert runs(split, 5, 1000, 3000) == [[0, 1], [2], [3, 4]]
    assert runs(split, 5, 2, 1 << 20) == [[0, 1], [2, 3], [4]]
    # A sample larger than the target makes a shard of its own rather than none.
    assert runs(split, 5, 1000, 1000) == [[0], [1], [2], [3], [4]]
    assert runs(split, 3, 1000, 1 << 20) == [[0, 1, 2]]


def test_the_samples_are_the_splits_in_order():
    split = SyntheticSplit(SyntheticSpec(7, 3000), "train")
    together = [sample for run in _shards_of(split, 7, 1000, 8000) for sample in run]
    assert together == [(i, *split.encoded(i)) for i in range(7)]


def test_the_progress_total_is_exact_for_objects_of_one_size():
    one_mb = SyntheticSplit(SyntheticSpec(200, 1 << 20), "train")
    # 64 MB of 1 MB members (each 1 MB plus a 512-byte header): 63 per shard, not 1,000.
    assert _per_shard(one_mb, 1000, 64 << 20) == 63
    assert len(list(_shards_of(one_mb, 200, 1000, 64 << 20))) == -(-200 // 63)
    assert _per_shard(Sized([1, 2]), 1000, 64 << 20) == 1000
