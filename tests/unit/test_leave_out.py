"""Dealing an epoch without the samples trained before an elastic resume, stage by stage."""

from __future__ import annotations

from labcore.settings import load_settings
from labcore.shards import member_key
from trainer.datasets import RankSampler, ShardSamples, without

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
    assert without(keys, (2, frozenset({"a", "b"})), 2) == ["d", "c"]
    assert without(keys, (2, frozenset({"a", "b"})), 3) == keys


def test_a_map_sampler_deals_the_rest_of_the_permutation_over_the_ranks():
    sampler = RankSampler(10, shuffle=True, seed=3)
    sampler.set_epoch(1)
    everything = list(sampler)
    sampler.leave_out(1, frozenset(everything[:4]))
    assert list(sampler) == everything[4:] and len(sampler) == 6
    sampler.set_epoch(2)
    assert len(list(sampler)) == len(sampler) == 10


def test_a_shard_wholly_trained_is_not_dealt_and_a_partly_trained_one_is():
    shards = {"s/train/shard-000000-a.tar": 3, "s/train/shard-000001-b.tar": 2}
    first, second = shards
    samples = ShardSamples(SETTINGS, "train", list(shards), shuffle=True, seed=0, samples=shards)
    done = {member_key(first, f"{i:05d}.0.png") for i in range(3)} | {member_key(second, "00003.0.png")}
    assert samples.leave_out(1, frozenset(done))
    samples.set_epoch(1)
    uris = list(samples.source._epoch_order)  # the shards the connector will deal this epoch
    assert uris == [f"s3://{SETTINGS.bucket}/{second}"]
