"""What one gloo rank does in the loader tests: build every loader after joining, read one epoch.

A module of its own because ``torch.multiprocessing`` spawns ranks that import it by name.
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
    from trainer.datasets import build_loader
    from trainer.planning import plan_split

    # A spawned process inherits the spawn start method, so its DataLoader workers would re-import
    # torch (seconds each); torchrun's ranks are plain processes whose workers fork, so fork here too.
    multiprocessing.set_start_method("fork", force=True)
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    join_loopback_group(rank, world, port, timeout=120)
    try:
        settings = load_settings(environ=env)
        client = minio_client(settings, convention="s3")
        shard_keys = plan_split(client, settings, "train", shards=True).shard_keys
        results = {}
        for case, workers in cases:
            kind, _, ahead = case.partition("@")
            loader = build_loader(
                kind,
                settings,
                "train",
                batch_size=16,
                workers=workers,
                shuffle=True,
                shuffle_buffer=32,
                seed=5,
                shard_keys=shard_keys,
                read_ahead=int(ahead or 1),
            )
            keys, seen_workers = [], []
            for batch in loader.epoch(1):
                keys.extend(batch[2])
                seen_workers.extend(batch[3].tolist())
            results[f"{case}:{workers}"] = {"keys": keys, "workers": seen_workers}
        Path(out, f"rank{rank}.json").write_text(json.dumps(results))
    finally:
        dist.destroy_process_group()
