"""The exactly-once check, fed bad deliveries: a duplicate, a gap and a stranger each fail it."""

import pytest

from labcore.errors import DataError
from labcore.shards import member_key
from trainer.delivery import Delivery
from trainer.planning import SplitPlan

KEYS = {f"mnist/train/{i % 10}/{i:05d}.png" for i in range(6)}
SHARDS = {"mnist-shards/train/shard-000000.tar": 3, "mnist-shards/train/shard-000001.tar": 2}


def delivered(keys, workers=None):
    delivery = Delivery()
    keys = list(keys)
    delivery.add(keys, workers or [0] * len(keys))
    return delivery


def shard_members(shard, indices):
    return [member_key(shard, f"{i:05d}.{i % 10}.png") for i in indices]


def test_exact_delivery_passes_with_the_line():
    line = delivered(sorted(KEYS)).check(SplitPlan("train", keys=KEYS), "train")
    assert line == "train: 6 of 6 objects, 0 duplicates"


@pytest.mark.parametrize(
    "change,pattern",
    [
        (lambda k: k + k[:1], r"train: 6 of 6 objects, 1 duplicates, 0 missing, 0 unexpected"),
        (lambda k: k[1:], r"train: 5 of 6 objects, 0 duplicates, 1 missing, 0 unexpected"),
        (
            lambda k: [*k, "mnist/train/3/99999.png"],
            r"train: 6 of 6 objects, 0 duplicates, 0 missing, 1 unexpected \(e\.g\. mnist/train/3/99999\.png\)",
        ),
    ],
)
def test_duplicate_missing_and_unexpected_fail(change, pattern):
    with pytest.raises(DataError, match=r"exactly-once check failed: " + pattern):
        delivered(change(sorted(KEYS))).check(SplitPlan("train", keys=KEYS), "train")


def test_shard_samples_are_identified_by_shard_and_member():
    a, b = sorted(SHARDS)
    plan = SplitPlan("train", shards=SHARDS)
    good = shard_members(a, [0, 1, 2]) + shard_members(b, [3, 4])
    assert delivered(good).check(plan, "train") == "train: 5 of 5 samples, 0 duplicates"
    with pytest.raises(
        DataError, match=r"4 of 5 samples, 0 duplicates, 1 missing.*shard-000001\.tar: 1 of 2"
    ):
        delivered(good[:-1]).check(plan, "train")
    with pytest.raises(DataError, match=r"1 duplicates"):
        delivered([*good, good[0]]).check(plan, "train")
    stranger = shard_members("mnist-shards/train/shard-000009.tar", [9])
    with pytest.raises(DataError, match=r"1 unexpected \(e\.g\. mnist-shards/train/shard-000009\.tar/"):
        delivered(good + stranger).check(plan, "train")


def test_world_merge_counts_ranks_and_workers():
    keys = sorted(KEYS)
    world = Delivery.merge([delivered(keys[:4], [0, 1, 0, 1]), delivered(keys[4:], [0, 0])])
    assert world.check(SplitPlan("train", keys=KEYS), "train") == "train: 6 of 6 objects, 0 duplicates"
    assert world.spread() == "samples per rank {0: 4, 1: 2}, per rank/worker {0/0: 2, 0/1: 2, 1/0: 2}"
    # A sample delivered by two ranks is a duplicate of the world, even if each rank saw it once.
    with pytest.raises(DataError, match="1 duplicates"):
        Delivery.merge([delivered(keys), delivered(keys[:1])]).check(SplitPlan("train", keys=KEYS), "train")


def test_samples_trained_before_an_elastic_resume_count_once_and_again_as_a_duplicate():
    plan = SplitPlan("train", keys=KEYS)
    keys = sorted(KEYS)
    before = frozenset(keys[:2])
    line = delivered(keys[2:]).check(plan, "train", before=before)
    assert (
        line == "train: 6 of 6 objects, 0 duplicates (2 of them trained before the resume, on another world)"
    )
    with pytest.raises(DataError, match=r"train: 6 of 6 objects, 1 duplicates, 0 missing"):
        delivered(keys[1:]).check(plan, "train", before=before)
    with pytest.raises(DataError, match=r"train: 5 of 6 objects, 0 duplicates, 1 missing"):
        delivered(keys[3:]).check(plan, "train", before=before)


def test_shard_samples_trained_before_an_elastic_resume_fill_their_shards():
    plan = SplitPlan("train", shards=SHARDS)
    first, second = list(SHARDS)
    before = frozenset(shard_members(first, [0, 1]))
    rest = shard_members(first, [2]) + shard_members(second, [3, 4])
    line = delivered(rest).check(plan, "train", before=before)
    assert line.startswith("train: 5 of 5 samples, 0 duplicates (2 of them trained before")
    with pytest.raises(
        DataError, match=r"4 of 5 samples, 0 duplicates, 1 missing.*shard-000000\.tar: 2 of 3"
    ):
        delivered(rest[1:]).check(plan, "train", before=before)
