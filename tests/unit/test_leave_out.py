"""Dealing an epoch without the samples trained before an elastic resume, stage by stage."""

from __future__ import annotations

import pytest

from labcore.settings import load_settings
from labcore.shards import member_key
from trainer.datasets import RankSampler, ShardSamples
from trainer.stages import LeftOut

SETTINGS = load_settings(
    environ={
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "lab",
        "AWS_SECRET_ACCESS_KEY": "lab-secret",
    }  # fmt: skip
)


def test_keys_are_left_out_of_their_epoch_only_and_keep_their_order():
    keys = ["d", "a", "c", "b"]
    left_out = LeftOut(2, frozenset({"a", "b"}))
    assert left_out.apply(keys, 2) == ["d", "c"]
    assert left_out.apply(keys, 3) == keys and LeftOut().apply(keys, 0) == keys
    assert left_out.during(2) == {"a", "b"} and left_out.during(1) == frozenset()


def test_a_map_sampler_deals_the_rest_of_the_permutation_over_the_ranks():
    sampler = RankSampler(10, shuffle=True, seed=3)
    sampler.set_epoch(1)
    everything = list(sampler)
    sampler.leave_out(LeftOut(1, frozenset(everything[:4])))
    assert list(sampler) == everything[4:] and len(sampler) == 6
    sampler.set_epoch(2)
    assert len(list(sampler)) == len(sampler) == 10


def test_a_shard_wholly_trained_is_not_dealt_and_a_partly_trained_one_is():
    shards = {"s/train/shard-000000-a.tar": 3, "s/train/shard-000001-b.tar": 2}
    first, second = shards
    samples = ShardSamples(SETTINGS, "train", list(shards), shuffle=True, seed=0, samples=shards)
    done = {member_key(first, f"{i:05d}.0.png") for i in range(3)} | {member_key(second, "00003.0.png")}
    assert samples.can_leave_out
    samples.leave_out(LeftOut(1, frozenset(done)))
    samples.set_epoch(1)
    uris = list(samples.source._epoch_order)  # the shards the connector will deal this epoch
    assert uris == [f"s3://{SETTINGS.bucket}/{second}"]


def test_only_loaders_that_order_their_objects_are_elastic_and_asking_changes_nothing():
    from trainer.datasets import build_loader

    common = {"batch_size": 4, "workers": 0, "shuffle_buffer": 0, "seed": 0, "keys": ["s/train/1/00000.png"]}
    s3prefix = build_loader("s3prefix", SETTINGS, "train", shuffle=True, **common)
    evaluation = build_loader("s3iter", SETTINGS, "test", shuffle=False, **common)
    for loader in (s3prefix, evaluation):
        assert not loader.elastic
        with pytest.raises(TypeError, match="cannot deal an epoch without"):
            loader.leave_out(1, frozenset({"s/train/1/00000.png"}))
    s3iter = build_loader("s3iter", SETTINGS, "train", shuffle=True, read_ahead=8, **common)
    assert s3iter.elastic and s3iter.elastic and s3iter.listing is None  # map's alone has one
    assert s3iter.dataset.source.source._epoch_order.left_out == LeftOut()
