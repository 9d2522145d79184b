"""One gloo rank of the dead-peer test: rank 1 dies inside training, rank 0 records what it saw.

A module of its own because the ranks (``tests.forked.start_ranks``) import it by name.
"""

from __future__ import annotations

import json
import os

import torch

from tests.conftest import join_loopback_group


def step_after_peer_dies(rank: int, world: int, port: int, out: str) -> None:
    """Both ranks wrap a model in DDP; rank 1 then exits, rank 0 takes a step through ``World.together``."""
    from trainer.distributed import World
    from trainer.model import SmallCNN
    from trainer.rank_stop import RankFailed

    join_loopback_group(rank, world, port, timeout=30)
    peers = [("host0", "127.0.0.1"), ("host1", "127.0.0.2")]
    me = World(rank=rank, size=world, timeout=30, hint="continue with --resume", peers=peers)
    model = me.together(torch.nn.parallel.DistributedDataParallel, SmallCNN())
    # Both ranks have their model: only now may rank 1 go, as a killed container would.
    me.sum([1])
    if rank == 1:
        os._exit(0)

    def step():
        model(torch.zeros(2, 1, 28, 28)).sum().backward()

    try:
        me.together(step)
        outcome = {"raised": None}
    except RankFailed as exc:
        outcome = {"raised": "RankFailed", "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 - the test reports whatever else escaped
        outcome = {"raised": type(exc).__name__, "message": str(exc)[:500]}
    with open(os.path.join(out, "rank0.json"), "w") as f:
        json.dump(outcome, f)
