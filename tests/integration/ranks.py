"""What one gloo rank does in the loader tests: build every loader after joining, read one epoch.

A module of its own because the ranks (``tests.forked.start_ranks``) import it by name.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

from torch import distributed as dist

from labcore.clients import minio_client
from labcore.settings import load_settings
from tests.conftest import join_loopback_group


def read_epoch(rank: int, world: int, port: int, env: dict, cases: list, out: str) -> None:
    """Join a ``world``-rank gloo group, then record each ``(kind, workers)`` case's keys and workers."""
    # Without the plan's keys, as the bench and notebooks build loaders (s3iter lists for itself).
    tasks = [
        {"name": f"{case}:{workers}", "kind": case, "workers": workers, "plan": False}
        for case, workers in cases
    ]
    read_batches(rank, world, port, env, tasks, out)


def read_batches(rank: int, world: int, port: int, env: dict, tasks: list[dict], out: str) -> None:
    """Join a ``world``-rank gloo group, then record the keys and workers of each task's batches.

    A task names its loader (``kind``, ``s3iter@8`` for read-ahead) and ``workers``; ``steps``
    reads only that many batches of epoch 1 (as a run stopped at a checkpoint of that step),
    and ``left_out`` lists keys the epoch is dealt without (as an elastic resume does). Loaders
    get the plan's keys, as the trainer's do, unless ``plan`` is false.
    """
    from trainer.datasets import build_loader
    from trainer.planning import plan_split

    # A rank inherits the start method it was started with (forkserver, tests.forked.start_ranks),
    # so its DataLoader workers would start through a server of their own that imports torch again;
    # torchrun's ranks are plain processes whose workers fork, so fork here too.
    multiprocessing.set_start_method("fork", force=True)
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    join_loopback_group(rank, world, port, timeout=120)
    try:
        settings = load_settings(environ=env)
        client = minio_client(settings, convention="s3")
        sharded = any(task["kind"] == "shards" for task in tasks)
        shard_plan = plan_split(client, settings, "train", shards=True) if sharded else None
        keys = plan_split(client, settings, "train", shards=False).keys
        results = {}
        for task in tasks:
            kind, _, ahead = task["kind"].partition("@")
            loader = build_loader(
                kind,
                settings,
                "train",
                batch_size=16,
                workers=task["workers"],
                shuffle=True,
                shuffle_buffer=32,
                seed=5,
                shard_keys=shard_plan.shard_keys if shard_plan else None,
                shard_samples=shard_plan.shards if shard_plan else None,
                keys=keys if task.get("plan", True) else None,
                read_ahead=int(ahead or 1),
            )
            if task.get("left_out"):
                assert loader.elastic, f"{kind} cannot leave samples out"
                loader.leave_out(1, frozenset(task["left_out"]))
            read, seen_workers = [], []
            for step, batch in enumerate(loader.epoch(1)):
                if task.get("steps") is not None and step >= task["steps"]:
                    break
                read.extend(batch.keys)
                seen_workers.extend(batch.workers.tolist())
            results[task["name"]] = {"keys": read, "workers": seen_workers}
        Path(out, f"rank{rank}.json").write_text(json.dumps(results))
    finally:
        dist.destroy_process_group()
