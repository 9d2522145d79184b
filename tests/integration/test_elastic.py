"""Elastic resume at the loaders: an epoch begun on one shape (ranks x workers) and finished on
another, dealt without what the first had trained, is every sample exactly once (for shards:
whole shards trained are not dealt again, and a partly trained one skips the members trained).

Real gloo ranks (torch.multiprocessing) against a real MinIO, 1003 objects (no rank or worker
count here divides it), batches of 16. The first shape reads the first steps of its epoch, as a
run stopped at a checkpoint of that step; the second deals the epoch without those samples.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import free_port
from tests.forked import start_ranks
from tests.integration.ranks import read_batches
from trainer.delivery import Delivery
from trainer.planning import plan_split

SAMPLES = 1003
STEPS = 7
# (ranks, workers) the epoch began on -> (ranks, workers) it finishes on.
SHAPES = [((2, 2), (1, 3)), ((1, 0), (3, 1)), ((3, 1), (2, 0))]
LOADERS = ("s3iter", "s3iter@8", "map", "manual", "manual@8", "shards")


@pytest.fixture(scope="module")
def dataset(seed_bucket):
    """1003 train samples as objects and as 11 shards of 100 (the last holds 3)."""
    bucket = seed_bucket({"train": SAMPLES, "test": 29}, learnable=True, shard_size=100)
    return bucket.env, bucket.settings, bucket.client


def run_world(env: dict, world: int, tasks: list[dict], out) -> dict[str, list[dict]]:
    """``{task name: [rank 0's read, rank 1's, ...]}`` of one ``world``-rank group (:func:`start_ranks`)."""
    start_ranks(read_batches, (world, free_port(), env, tasks, str(out)), world)
    by_rank = [json.loads((out / f"rank{r}.json").read_text()) for r in range(world)]
    return {task["name"]: [ranks[task["name"]] for ranks in by_rank] for task in tasks}


@pytest.fixture(scope="module")
def reads(dataset, tmp_path_factory):
    """Each case's first part (STEPS batches per rank) and second part (the rest, on the new shape).

    Four starts: each second part runs in the world of a later first part.
    """
    env, *_ = dataset
    first = {
        (shape, kind): {"name": f"first {shape} {kind}", "kind": kind, "workers": shape[0][1], "steps": STEPS}
        for shape in SHAPES
        for kind in LOADERS
    }
    parts: dict[str, list[dict]] = {}

    def second(shape, kind) -> dict:
        done = sorted({k for rank in parts[first[(shape, kind)]["name"]] for k in rank["keys"]})
        return {"name": f"second {shape} {kind}", "kind": kind, "workers": shape[1][1], "left_out": done}

    def tasks_for(ranks: int, *, seconds=()) -> list[dict]:
        mine = [
            task for (shape, _), task in first.items() if shape[0][0] == ranks and task["name"] not in parts
        ]
        return mine + [second(shape, kind) for shape in seconds for kind in LOADERS]

    for world, seconds in ((2, ()), (1, (SHAPES[0],)), (3, (SHAPES[1],)), (2, (SHAPES[2],))):
        parts.update(
            run_world(env, world, tasks_for(world, seconds=seconds), tmp_path_factory.mktemp(f"w{world}"))
        )
    return first, parts


def delivery(reads: list[dict]) -> Delivery:
    parts = []
    for read in reads:
        part = Delivery()
        part.add(read["keys"], read["workers"])
        parts.append(part)
    return Delivery.merge(parts)


@pytest.mark.parametrize("kind", LOADERS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0][0]}x{s[0][1]}-to-{s[1][0]}x{s[1][1]}")
def test_an_epoch_finished_on_another_shape_is_every_sample_once(dataset, reads, shape, kind):
    _, settings, client = dataset
    plan = plan_split(client, settings, "train", shards=kind == "shards")
    first, parts = reads
    before = delivery(parts[first[(shape, kind)]["name"]])
    (ranks, _), (new_ranks, new_workers) = shape
    # The first part is what the old world trained by step STEPS: STEPS full batches per rank.
    assert before.samples == ranks * STEPS * 16 and max(before.keys.values()) == 1
    after = parts[f"second {shape} {kind}"]
    assert len(after) == new_ranks and all(rank["keys"] for rank in after), "every new rank had work"
    expected = {"main"} if new_workers == 0 else {str(w) for w in range(new_workers)}
    assert all({("main" if w < 0 else str(w)) for w in rank["workers"]} == expected for rank in after)
    line = delivery(after).check(plan, "train", before=frozenset(before.keys))
    noun = "samples" if kind == "shards" else "objects"
    assert line.startswith(
        f"train: {SAMPLES} of {SAMPLES} {noun}, 0 duplicates ({ranks * STEPS * 16} of them"
    )
