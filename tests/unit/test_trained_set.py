"""The record of an epoch's trained samples: a bitmap over the sorted listing, small and exact."""

import random

import pytest

from labcore.shards import member_key
from trainer.trained_set import Listing, ShardListing, decode, encode

KEYS = [f"mnist/train/{i % 10}/{i:05d}.png" for i in range(1003)]


def test_a_set_of_keys_goes_through_bits_and_text_unchanged():
    listing = Listing(reversed(KEYS))
    chosen = frozenset(KEYS[::7])
    bits = listing.bits(chosen)
    assert len(bits) == (1003 + 7) // 8
    assert listing.keys_of(decode(encode(bits))) == chosen
    assert listing.keys_of(listing.bits([])) == frozenset()


def test_ranks_shares_are_joined_and_a_key_outside_the_listing_has_no_bit():
    listing = Listing(KEYS)
    parts = [listing.bits(KEYS[r::3]) for r in range(3)]
    assert listing.keys_of(listing.union(parts)) == frozenset(KEYS)
    assert listing.keys_of(listing.bits(["mnist/train/3/99999.png", KEYS[5]])) == {KEYS[5]}


def test_half_an_epoch_of_60000_in_random_order_is_about_10_kb_of_text():
    listing = Listing(f"mnist/train/{i % 10}/{i:05d}.png" for i in range(60_000))
    half = random.Random(0).sample(listing.keys, 30_000)
    assert len(encode(listing.bits(half))) < 11_000


def test_positions_are_the_sorted_listings():
    listing = Listing(["b", "c", "a"])
    assert listing.positions(["a", "c", "z"]) == {0, 2}


@pytest.mark.parametrize("text", ["not base64!", "aGVsbG8="])
def test_text_that_is_no_bitmap_is_a_value_error(text):
    with pytest.raises(ValueError, match="not a bitmap of trained samples"):
        decode(text)


SHARDS = {f"mnist-shards/train/shard-{n:06d}-abc.tar": 100 if n < 10 else 3 for n in range(11)}


def member(n: int, i: int) -> str:
    return member_key(f"mnist-shards/train/shard-{n:06d}-abc.tar", f"{n * 100 + i:05d}.{i % 10}.png")


def test_shard_samples_are_recorded_by_shard_and_member_name():
    listing = ShardListing(SHARDS)
    assert len(listing) == 1003
    ranks = [[member(n, i) for n in range(r, 11, 2) for i in range(0, 40, 3)] for r in range(2)]
    record = listing.union([listing.bits(keys) for keys in ranks])
    assert listing.keys_of(decode(encode(record))) == frozenset(ranks[0] + ranks[1])
    stranger = member_key("mnist-shards/train/shard-000099-abc.tar", "09900.0.png")
    assert listing.keys_of(listing.bits([stranger, member(3, 1)])) == {member(3, 1)}


@pytest.mark.parametrize("record", [b"[1, 2]", b'{"99": ["a.png"]}', b"not json"])
def test_a_record_that_is_no_shard_record_is_a_value_error(record):
    with pytest.raises(ValueError, match="not a record of trained shard samples"):
        ShardListing(SHARDS).keys_of(record)
